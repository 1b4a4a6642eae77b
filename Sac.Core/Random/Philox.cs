using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sac.Core.Random;

/// <summary>
/// A 64-bit Philox4x32 key. Keys are plain values: the same key always produces the same streams, and child keys are
/// derived from a parent key deterministically, so a whole training run is reproducible from one seed.
/// </summary>
/// <param name="K0">Low key word (the first word of the Random123 <c>philox4x32_key_t</c>).</param>
/// <param name="K1">High key word (the second word of the Random123 <c>philox4x32_key_t</c>).</param>
public readonly record struct PhiloxKey(uint K0, uint K1)
{
    // The last counter word tags what a key-derivation block is for. Data streams only ever use 0 there (plus a small
    // rejection-retry count in UniformInt), so derived keys never reuse a block that also produced data.
    const uint SplitTag = 0x53504C54;  // "SPLT"
    const uint FoldInTag = 0x464F4C44; // "FOLD"

    /// <summary>Makes a key from a 64-bit seed: <see cref="K0"/> is its low 32 bits, <see cref="K1"/> its high 32 bits.</summary>
    /// <param name="seed">Any seed; distinct seeds give distinct keys.</param>
    /// <returns>The key <c>(low32(seed), high32(seed))</c>.</returns>
    public static PhiloxKey FromSeed(ulong seed) => new((uint)seed, (uint)(seed >> 32));

    /// <summary>
    /// Derives the child key number <paramref name="index"/>: the first two words of
    /// <c>Philox.Block(this, index, 0, 0, 0x53504C54)</c>. Children with different indices, and children of
    /// different parents, are unrelated keys for all practical purposes.
    /// </summary>
    /// <param name="index">Child number, zero or more.</param>
    /// <returns>The derived key.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is negative.</exception>
    public PhiloxKey Split(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        var (w0, w1, _, _) = Philox.Block(this, (uint)index, 0, 0, SplitTag);
        return new PhiloxKey(w0, w1);
    }

    /// <summary>Splits this key into two independent child keys, <c>(Split(0), Split(1))</c>.</summary>
    /// <returns>The two children; use one and keep splitting the other, as with JAX's <c>random.split</c>.</returns>
    public (PhiloxKey, PhiloxKey) Split() => (Split(0), Split(1));

    /// <summary>
    /// Mixes <paramref name="data"/> into this key (like JAX's <c>random.fold_in</c>): the first two words of
    /// <c>Philox.Block(this, data, 0, 0, 0x464F4C44)</c>. Use it to give each step, episode or worker its own key
    /// without threading keys through the code.
    /// </summary>
    /// <param name="data">The value to fold in, such as a step number.</param>
    /// <returns>The derived key; it differs from every <see cref="Split(int)"/> child because the tag differs.</returns>
    public PhiloxKey FoldIn(uint data)
    {
        var (w0, w1, _, _) = Philox.Block(this, data, 0, 0, FoldInTag);
        return new PhiloxKey(w0, w1);
    }
}

/// <summary>
/// The Philox4x32-10 counter-based generator (Salmon et al., SC'11), bit-compatible with Random123's
/// <c>philox4x32_10</c>, and the streams this library draws from it.
/// </summary>
/// <remarks>
/// <para>
/// Every stream is addressed by an absolute element index, never by generator state: element <c>i</c> of a stream is
/// lane <c>i % 4</c> of the block with counter <c>(low32(i / 4), high32(i / 4), c2, 0)</c>, where <c>c2 = 0</c> for
/// <see cref="FillUInt32"/>, <see cref="FillUniform"/> and <see cref="FillNormal"/>. A fill starting at
/// <c>offset</c> therefore writes exactly what a fill of a larger range would have written there, however the work
/// is chunked, and a GPU kernel whose thread computes block <c>i / 4</c> reproduces the same numbers.
/// </para>
/// <para>
/// The uint, uniform and normal streams of one key read the same blocks, so a uniform and a normal drawn at the same
/// index of the same key are related; give each use its own key (<see cref="PhiloxKey.Split()"/>,
/// <see cref="PhiloxKey.FoldIn"/>). <see cref="UniformInt"/> reads the <c>c2 = 1</c> blocks, which none of them touch.
/// </para>
/// </remarks>
public static class Philox
{
    const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57;
    const uint W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    /// <summary>2π rounded to float (6.28318548f), the constant the Box–Muller angle is computed with.</summary>
    const float TwoPi = 6.28318548f;

    // 2^-23: the spacing of the uniform grid; multiplying by a power of two is exact.
    const float UniformScale = 1.0f / 8388608.0f;

    /// <summary>
    /// The Philox4x32 bijection with 10 rounds: encrypts the counter <c>(c0, c1, c2, c3)</c> under
    /// <paramref name="key"/>. Identical to Random123's <c>philox4x32_10(ctr, key)</c>.
    /// </summary>
    /// <param name="key">The key; <c>K0</c> and <c>K1</c> are Random123's <c>key.v[0]</c> and <c>key.v[1]</c>.</param>
    /// <param name="c0">Counter word 0.</param>
    /// <param name="c1">Counter word 1.</param>
    /// <param name="c2">Counter word 2.</param>
    /// <param name="c3">Counter word 3.</param>
    /// <returns>The four output words, in Random123's order.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (uint, uint, uint, uint) Block(PhiloxKey key, uint c0, uint c1, uint c2, uint c3)
    {
        uint k0 = key.K0, k1 = key.K1;
        Round(ref c0, ref c1, ref c2, ref c3, k0, k1);
        for (int r = 1; r < 10; r++)
        {
            // The key is bumped by the Weyl increments before every round but the first; uint wraps mod 2^32.
            k0 += W0;
            k1 += W1;
            Round(ref c0, ref c1, ref c2, ref c3, k0, k1);
        }
        return (c0, c1, c2, c3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Round(ref uint c0, ref uint c1, ref uint c2, ref uint c3, uint k0, uint k1)
    {
        ulong p0 = Math.BigMul(M0, c0);
        ulong p1 = Math.BigMul(M1, c2);
        uint n0 = (uint)(p1 >> 32) ^ c1 ^ k0;
        uint n2 = (uint)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint)p1;
        c3 = (uint)p0;
        c0 = n0;
        c2 = n2;
    }

    /// <summary>
    /// Maps 32 random bits to a float in the open interval (0, 1): <c>((bits &gt;&gt; 9) + 0.5f) * 2^-23</c>.
    /// </summary>
    /// <remarks>
    /// The result is <c>(2k + 1) * 2^-24</c> for the top 23 bits <c>k</c>, so it lies in <c>[2^-24, 1 - 2^-24]</c> and
    /// is the midpoint of one of 2^23 equal cells. Every step is exact in float, so any IEEE float implementation
    /// (a CUDA kernel included) gets the same bits. Only 23 bits are used because the midpoints of 2^24 cells need
    /// 25 significant bits near 1: in float, <c>((bits &gt;&gt; 8) + 0.5f) * 2^-24</c> rounds its top value to 1.
    /// </remarks>
    /// <param name="bits">Uniform random bits.</param>
    /// <returns>A float strictly between 0 and 1.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToUniform(uint bits) => ((int)(bits >> 9) + 0.5f) * UniformScale;

    /// <summary>
    /// The Box–Muller transform in float: <c>r = sqrt(-2 ln u1)</c>, <c>θ = 2π u2</c>,
    /// <c>z0 = r cos θ</c>, <c>z1 = r sin θ</c>, computed with <see cref="MathF"/> and 2π = 6.28318548f.
    /// </summary>
    /// <remarks>
    /// Given the uniforms of <see cref="ToUniform"/>, <c>|z| &lt;= sqrt(48 ln 2) ≈ 5.77</c> and never infinite.
    /// <c>Log</c>, <c>Sqrt</c>, <c>Sin</c> and <c>Cos</c> are those of the platform's math library; a CUDA kernel using
    /// <c>logf</c>, <c>sqrtf</c> and <c>sincosf</c> agrees to a few ulp rather than bit for bit.
    /// </remarks>
    /// <param name="u1">Uniform in (0, 1]; sets the radius.</param>
    /// <param name="u2">Uniform in [0, 1); sets the angle.</param>
    /// <returns>Two independent standard normals, the cosine branch first.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (float, float) BoxMuller(float u1, float u2)
    {
        float r = MathF.Sqrt(-2.0f * MathF.Log(u1));
        var (sin, cos) = MathF.SinCos(TwoPi * u2);
        return (r * cos, r * sin);
    }

    /// <summary>
    /// Fills <paramref name="dest"/> with raw 32-bit words: <c>dest[j]</c> is element <c>i = offset + j</c>, lane
    /// <c>i % 4</c> of <c>Block(key, low32(i / 4), high32(i / 4), 0, 0)</c>.
    /// </summary>
    /// <param name="key">Stream key.</param>
    /// <param name="offset">Absolute index of <c>dest[0]</c>.</param>
    /// <param name="dest">Where to write; its length is the number of elements.</param>
    /// <exception cref="ArgumentOutOfRangeException">The index range passes <see cref="ulong.MaxValue"/>.</exception>
    public static void FillUInt32(PhiloxKey key, ulong offset, Span<uint> dest) =>
        Fill<uint, RawMap>(key, offset, dest);

    /// <summary>
    /// Fills <paramref name="dest"/> with uniforms in the open interval (0, 1): <c>dest[j] = ToUniform(w)</c>, where
    /// <c>w</c> is the word <see cref="FillUInt32"/> puts at the same absolute index. See <see cref="ToUniform"/>
    /// for the exact mapping.
    /// </summary>
    /// <param name="key">Stream key.</param>
    /// <param name="offset">Absolute index of <c>dest[0]</c>.</param>
    /// <param name="dest">Where to write; its length is the number of elements.</param>
    /// <exception cref="ArgumentOutOfRangeException">The index range passes <see cref="ulong.MaxValue"/>.</exception>
    public static void FillUniform(PhiloxKey key, ulong offset, Span<float> dest) =>
        Fill<float, UniformMap>(key, offset, dest);

    /// <summary>
    /// Fills <paramref name="dest"/> with standard normals. The block for absolute index <c>i</c> (as in
    /// <see cref="FillUInt32"/>) gives uniforms <c>u0..u3</c> by <see cref="ToUniform"/>; lanes 0 and 1 are
    /// <c>BoxMuller(u0, u1)</c> and lanes 2 and 3 are <c>BoxMuller(u2, u3)</c>, cosine branch first. Element
    /// <c>i</c> therefore depends only on <paramref name="key"/> and <c>i</c>.
    /// </summary>
    /// <param name="key">Stream key.</param>
    /// <param name="offset">Absolute index of <c>dest[0]</c>.</param>
    /// <param name="dest">Where to write; its length is the number of elements.</param>
    /// <exception cref="ArgumentOutOfRangeException">The index range passes <see cref="ulong.MaxValue"/>.</exception>
    public static void FillNormal(PhiloxKey key, ulong offset, Span<float> dest) =>
        Fill<float, NormalMap>(key, offset, dest);

    /// <summary>The uniform at absolute <paramref name="index"/>; equal, bit for bit, to what <see cref="FillUniform"/> writes there.</summary>
    /// <param name="key">Stream key.</param>
    /// <param name="index">Absolute element index.</param>
    /// <returns>A float strictly between 0 and 1.</returns>
    public static float Uniform(PhiloxKey key, ulong index) => One<float, UniformMap>(key, index);

    /// <summary>The standard normal at absolute <paramref name="index"/>; equal, bit for bit, to what <see cref="FillNormal"/> writes there.</summary>
    /// <param name="key">Stream key.</param>
    /// <param name="index">Absolute element index.</param>
    /// <returns>A standard normal draw.</returns>
    public static float Normal(PhiloxKey key, ulong index) => One<float, NormalMap>(key, index);

    /// <summary>
    /// An exactly uniform integer in <c>[0, exclusiveMax)</c>, for sampling replay indices.
    /// </summary>
    /// <remarks>
    /// Uses its own stream: attempt <c>a = 0, 1, ...</c> takes the block <c>Block(key, low32(index), high32(index), 1, a)</c>
    /// and tries the 64-bit words <c>x = w0 | w1 &lt;&lt; 32</c>, then <c>x = w2 | w3 &lt;&lt; 32</c>. With
    /// <c>n = exclusiveMax</c>, the 128-bit product <c>x * n</c> is split into <c>hi</c> and <c>lo</c> 64-bit halves; the
    /// candidate <c>hi</c> is accepted unless <c>lo &lt; 2^64 mod n</c> (Lemire's multiply-shift with rejection), which
    /// removes the bias entirely. A rejection has probability below <c>n / 2^64 &lt; 2^-33</c>, so the first word
    /// almost always decides.
    /// </remarks>
    /// <param name="key">Stream key.</param>
    /// <param name="index">Absolute draw index; each index gives one draw.</param>
    /// <param name="exclusiveMax">Number of possible values, at least 1.</param>
    /// <returns>An integer in <c>[0, exclusiveMax)</c>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="exclusiveMax"/> is zero or negative.</exception>
    public static int UniformInt(PhiloxKey key, ulong index, int exclusiveMax)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(exclusiveMax);
        ulong n = (ulong)exclusiveMax;
        uint lo32 = (uint)index, hi32 = (uint)(index >> 32);
        for (uint attempt = 0; ; attempt++)
        {
            var (w0, w1, w2, w3) = Block(key, lo32, hi32, 1, attempt);
            if (TryLemire(w0 | ((ulong)w1 << 32), n, out int r)) return r;
            if (TryLemire(w2 | ((ulong)w3 << 32), n, out r)) return r;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static bool TryLemire(ulong x, ulong n, out int result)
    {
        ulong hi = Math.BigMul(x, n, out ulong lo);
        result = (int)hi;
        // Only products whose low half falls below 2^64 mod n can be over-represented; testing lo < n first skips
        // the division on all but a vanishing fraction of draws.
        return lo >= n || lo >= (0UL - n) % n;
    }

    /// <summary>Turns one Philox block into the four stream elements of that block.</summary>
    interface IBlockMap<T>
    {
        static abstract void Map(uint x0, uint x1, uint x2, uint x3, out T y0, out T y1, out T y2, out T y3);
    }

    readonly struct RawMap : IBlockMap<uint>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Map(uint x0, uint x1, uint x2, uint x3, out uint y0, out uint y1, out uint y2, out uint y3)
        {
            y0 = x0; y1 = x1; y2 = x2; y3 = x3;
        }
    }

    readonly struct UniformMap : IBlockMap<float>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Map(uint x0, uint x1, uint x2, uint x3, out float y0, out float y1, out float y2, out float y3)
        {
            y0 = ToUniform(x0); y1 = ToUniform(x1); y2 = ToUniform(x2); y3 = ToUniform(x3);
        }
    }

    readonly struct NormalMap : IBlockMap<float>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Map(uint x0, uint x1, uint x2, uint x3, out float y0, out float y1, out float y2, out float y3)
        {
            (y0, y1) = BoxMuller(ToUniform(x0), ToUniform(x1));
            (y2, y3) = BoxMuller(ToUniform(x2), ToUniform(x3));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static T One<T, TMap>(PhiloxKey key, ulong index) where TMap : struct, IBlockMap<T>
    {
        ulong block = index >> 2;
        var (x0, x1, x2, x3) = Block(key, (uint)block, (uint)(block >> 32), 0, 0);
        TMap.Map(x0, x1, x2, x3, out T y0, out T y1, out T y2, out T y3);
        return (index & 3) switch { 0 => y0, 1 => y1, 2 => y2, _ => y3 };
    }

    // Whole blocks go straight into dest; only a ragged head and tail go through a 4-element scratch buffer on the
    // stack. Every element comes from the same Map call whichever path it takes, so chunking cannot change a value.
    static void Fill<T, TMap>(PhiloxKey key, ulong offset, Span<T> dest)
        where T : unmanaged
        where TMap : struct, IBlockMap<T>
    {
        int n = dest.Length;
        if (n == 0) return;
        if ((ulong)(n - 1) > ulong.MaxValue - offset)
            throw new ArgumentOutOfRangeException(nameof(offset),
                $"Elements {offset} .. {offset} + {n} - 1 pass the last stream index {ulong.MaxValue}.");

        ref T d = ref MemoryMarshal.GetReference(dest);
        ulong block = offset >> 2;
        int j = 0;
        Span<T> scratch = stackalloc T[4];

        int lane = (int)(offset & 3);
        if (lane != 0)
        {
            MapBlock<T, TMap>(key, block, scratch);
            int take = Math.Min(4 - lane, n);
            scratch.Slice(lane, take).CopyTo(dest);
            j = take;
            block++;
        }

        for (; n - j >= 4; j += 4, block++)
        {
            var (x0, x1, x2, x3) = Block(key, (uint)block, (uint)(block >> 32), 0, 0);
            TMap.Map(x0, x1, x2, x3,
                out Unsafe.Add(ref d, j), out Unsafe.Add(ref d, j + 1),
                out Unsafe.Add(ref d, j + 2), out Unsafe.Add(ref d, j + 3));
        }

        if (j < n)
        {
            MapBlock<T, TMap>(key, block, scratch);
            scratch[..(n - j)].CopyTo(dest[j..]);
        }
    }

    static void MapBlock<T, TMap>(PhiloxKey key, ulong block, Span<T> scratch4) where TMap : struct, IBlockMap<T>
    {
        var (x0, x1, x2, x3) = Block(key, (uint)block, (uint)(block >> 32), 0, 0);
        TMap.Map(x0, x1, x2, x3, out scratch4[0], out scratch4[1], out scratch4[2], out scratch4[3]);
    }
}
