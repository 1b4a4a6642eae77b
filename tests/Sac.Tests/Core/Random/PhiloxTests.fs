module PhiloxTests

open System
open Xunit
open Expecto
open FsCheck
open Sac.Core.Random

let private check (prop: 'a -> bool) = Check.One(Config.QuickThrowOnFailure, prop)

// Random123 tests/kat_vectors, the three "philox4x32 10" lines: counter (4 words), key (2 words), expected (4 words).
let private katVectors =
    [ (0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u), (0x00000000u, 0x00000000u),
      (0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)
      (0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu), (0xffffffffu, 0xffffffffu),
      (0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)
      (0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u), (0xa4093822u, 0x299f31d0u),
      (0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u) ]

let ``Block matches Random123 philox4x32_10 known answers`` = testCase "Block matches Random123 philox4x32_10 known answers" <| fun () ->
    for (c0, c1, c2, c3), (k0, k1), expected in katVectors do
        let struct (w0, w1, w2, w3) = Philox.Block(PhiloxKey(k0, k1), c0, c1, c2, c3)
        Assert.Equal(expected, (w0, w1, w2, w3))

// Offsets stay far below 2^64 so offset + length cannot pass the last index; small ones still occur often.
let private mkOffset (raw: uint64) = raw &&& 0x3FFF_FFFF_FFFF_FFFFUL

let ``FillUInt32 element i is lane i mod 4 of block i / 4`` = testCase "FillUInt32 element i is lane i mod 4 of block i / 4" <| fun () ->
    check (fun (k0: uint32, k1: uint32, raw: uint64, len: byte) ->
        let key, offset, n = PhiloxKey(k0, k1), mkOffset raw, int len
        let got = Array.zeroCreate<uint32> n
        Philox.FillUInt32(key, offset, got.AsSpan())
        got |> Array.mapi (fun j v ->
            let i = offset + uint64 j
            let b = i / 4UL
            let struct (w0, w1, w2, w3) = Philox.Block(key, uint32 b, uint32 (b >>> 32), 0u, 0u)
            v = [| w0; w1; w2; w3 |].[int (i % 4UL)])
        |> Array.forall id)

// Spans cannot live in closures, so each fill is passed as "fill key offset array start count".
let private chunkInvariant (fill: PhiloxKey -> uint64 -> 't[] -> int -> int -> unit) =
    check (fun (k0: uint32, k1: uint32, raw: uint64, len: byte, splitRaw: byte) ->
        let key, offset, n = PhiloxKey(k0, k1), mkOffset raw, int len
        let split = int splitRaw % (n + 1)
        let whole = Array.zeroCreate<'t> n
        fill key offset whole 0 n
        let parts = Array.zeroCreate<'t> n
        fill key offset parts 0 split
        fill key (offset + uint64 split) parts split (n - split)
        whole = parts)

let ``FillUInt32 is independent of chunking`` = testCase "FillUInt32 is independent of chunking" <| fun () ->
    chunkInvariant (fun k o a s c -> Philox.FillUInt32(k, o, a.AsSpan(s, c)))

let ``FillUniform is independent of chunking`` = testCase "FillUniform is independent of chunking" <| fun () ->
    chunkInvariant (fun k o a s c -> Philox.FillUniform(k, o, a.AsSpan(s, c)))

let ``FillNormal is independent of chunking`` = testCase "FillNormal is independent of chunking" <| fun () ->
    chunkInvariant (fun k o a s c -> Philox.FillNormal(k, o, a.AsSpan(s, c)))

// Compares float bits so that equality is exact and NaN could not slip through as "equal".
let private bits (x: float32) = BitConverter.SingleToInt32Bits x

let ``single-element Uniform and Normal equal the fills bit for bit`` = testCase "single-element Uniform and Normal equal the fills bit for bit" <| fun () ->
    check (fun (k0: uint32, k1: uint32, raw: uint64, len: byte) ->
        let key, offset, n = PhiloxKey(k0, k1), mkOffset raw, int len
        let u = Array.zeroCreate<float32> n
        let z = Array.zeroCreate<float32> n
        Philox.FillUniform(key, offset, u.AsSpan())
        Philox.FillNormal(key, offset, z.AsSpan())
        Seq.forall (fun j ->
            let i = offset + uint64 j
            bits (Philox.Uniform(key, i)) = bits u.[j] && bits (Philox.Normal(key, i)) = bits z.[j]) [ 0 .. n - 1 ])

let ``uniforms and normals follow the documented formulas`` = testCase "uniforms and normals follow the documented formulas" <| fun () ->
    check (fun (k0: uint32, k1: uint32, raw: uint64) ->
        let key, i = PhiloxKey(k0, k1), mkOffset raw
        let b = i / 4UL
        let struct (w0, w1, w2, w3) = Philox.Block(key, uint32 b, uint32 (b >>> 32), 0u, 0u)
        let words = [| w0; w1; w2; w3 |]
        let lane = int (i % 4UL)
        // The uniform grid is exact, so a double computation must agree exactly.
        let expectedU = (float (words.[lane] >>> 9) + 0.5) * Math.Pow(2.0, -23.0)
        let u1 = Philox.ToUniform words.[lane &&& 2]
        let u2 = Philox.ToUniform words.[(lane &&& 2) + 1]
        let r = MathF.Sqrt(-2.0f * MathF.Log u1)
        let struct (s, c) = MathF.SinCos(6.28318548f * u2)
        let expectedZ = if lane % 2 = 0 then r * c else r * s
        float (Philox.Uniform(key, i)) = expectedU && bits (Philox.Normal(key, i)) = bits expectedZ)

let ``ToUniform stays strictly inside (0, 1) at the extreme words`` = testCase "ToUniform stays strictly inside (0, 1) at the extreme words" <| fun () ->
    let lo, hi = Philox.ToUniform 0u, Philox.ToUniform UInt32.MaxValue
    Assert.Equal(Math.Pow(2.0, -24.0), float lo)
    Assert.Equal(1.0 - Math.Pow(2.0, -24.0), float hi)
    Assert.True(lo > 0.0f && hi < 1.0f)
    let struct (z0, z1) = Philox.BoxMuller(lo, 0.125f)
    Assert.True(Single.IsFinite z0 && Single.IsFinite z1 && abs z0 < 5.8f && abs z1 < 5.8f)

let ``uniform fill is strictly inside (0, 1)`` = testCase "uniform fill is strictly inside (0, 1)" <| fun () ->
    check (fun (k0: uint32, k1: uint32, raw: uint64, len: byte) ->
        let u = Array.zeroCreate<float32> (int len)
        Philox.FillUniform(PhiloxKey(k0, k1), mkOffset raw, u.AsSpan())
        u |> Array.forall (fun x -> x > 0.0f && x < 1.0f))

let ``a million uniforms and normals have the right moments`` = testCase "a million uniforms and normals have the right moments" <| fun () ->
    let n = 1 <<< 20
    let buf = Array.zeroCreate<float32> n
    Philox.FillUniform(PhiloxKey.FromSeed 42UL, 12345UL, buf.AsSpan())
    Assert.True(buf |> Array.forall (fun x -> x > 0.0f && x < 1.0f))
    let mean = buf |> Array.averageBy float
    Assert.InRange(mean, 0.498, 0.502)
    Philox.FillNormal(PhiloxKey.FromSeed 7UL, 0UL, buf.AsSpan())
    let zMean = buf |> Array.averageBy float
    let zVar = buf |> Array.averageBy (fun x -> (float x - zMean) ** 2.0)
    Assert.InRange(zMean, -0.005, 0.005)
    Assert.InRange(zVar, 0.99, 1.01)

let ``fills reject ranges past the last index`` = testCase "fills reject ranges past the last index" <| fun () ->
    let buf = Array.zeroCreate<float32> 2
    Assert.Throws<ArgumentOutOfRangeException>(fun () ->
        Philox.FillUniform(PhiloxKey(1u, 2u), UInt64.MaxValue, buf.AsSpan())) |> ignore
    // Ending exactly on the last index is allowed, and an empty fill anywhere is a no-op.
    Philox.FillUniform(PhiloxKey(1u, 2u), UInt64.MaxValue - 1UL, buf.AsSpan())
    Assert.Equal(bits (Philox.Uniform(PhiloxKey(1u, 2u), UInt64.MaxValue)), bits buf.[1])
    Philox.FillNormal(PhiloxKey(1u, 2u), UInt64.MaxValue, Span<float32>.Empty)

let ``FromSeed splits the seed into low and high words`` = testCase "FromSeed splits the seed into low and high words" <| fun () ->
    Assert.Equal(PhiloxKey(0x89abcdefu, 0x01234567u), PhiloxKey.FromSeed 0x0123456789abcdefUL)

let private firstWords (key: PhiloxKey) =
    let a = Array.zeroCreate<uint32> 8
    Philox.FillUInt32(key, 0UL, a.AsSpan())
    a

let ``Split and FoldIn are deterministic and give distinct keys and streams`` = testCase "Split and FoldIn are deterministic and give distinct keys and streams" <| fun () ->
    check (fun (k0: uint32, k1: uint32, data: uint32) ->
        let key = PhiloxKey(k0, k1)
        let struct (a, b) = key.Split()
        let f = key.FoldIn data
        let keys = [ key; a; b; f; key.FoldIn(data + 1u); key.Split 2 ]
        key.Split() = struct (a, b) && key.FoldIn data = f
        && (a, b) = (key.Split 0, key.Split 1)
        && List.length (List.distinct keys) = keys.Length
        && List.length (List.distinct (keys |> List.map firstWords)) = keys.Length)

let ``Split rejects a negative index`` = testCase "Split rejects a negative index" <| fun () ->
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> PhiloxKey(1u, 2u).Split(-1) |> ignore) |> ignore

let ``UniformInt follows its documented definition`` = testCase "UniformInt follows its documented definition" <| fun () ->
    check (fun (k0: uint32, k1: uint32, index: uint64, nRaw: int) ->
        let key = PhiloxKey(k0, k1)
        let n = (nRaw &&& Int32.MaxValue) ||| 1
        let struct (w0, w1, _, _) = Philox.Block(key, uint32 index, uint32 (index >>> 32), 1u, 0u)
        let x = bigint w0 + (bigint w1 <<< 32)
        // With a rejection chance below 2^-33 the first candidate is the answer in every generated case.
        let expected = int ((x * bigint n) >>> 64)
        Philox.UniformInt(key, index, n) = expected)

let ``UniformInt stays in range and rejects non-positive bounds`` = testCase "UniformInt stays in range and rejects non-positive bounds" <| fun () ->
    check (fun (k0: uint32, k1: uint32, index: uint64, nRaw: int) ->
        let n = max 1 (abs (nRaw % 1000) + 1)
        let key = PhiloxKey(k0, k1)
        let r = Philox.UniformInt(key, index, n)
        let big = Philox.UniformInt(key, index, Int32.MaxValue)
        0 <= r && r < n && 0 <= big && big < Int32.MaxValue && Philox.UniformInt(key, index, 1) = 0)
    for bad in [ 0; -1; Int32.MinValue ] do
        Assert.Throws<ArgumentOutOfRangeException>(fun () -> Philox.UniformInt(PhiloxKey(3u, 4u), 0UL, bad) |> ignore)
        |> ignore

let ``UniformInt is roughly uniform over ten buckets`` = testCase "UniformInt is roughly uniform over ten buckets" <| fun () ->
    let key = PhiloxKey.FromSeed 2024UL
    let draws = 100_000
    let counts = Array.zeroCreate<int> 10
    for i in 0 .. draws - 1 do
        let r = Philox.UniformInt(key, uint64 i, 10)
        counts.[r] <- counts.[r] + 1
    let expected = float draws / 10.0
    let chi2 = counts |> Array.sumBy (fun c -> (float c - expected) ** 2.0 / expected)
    // 9 degrees of freedom: P(chi2 > 40) is about 7e-6, and the key is fixed, so this cannot flake.
    Assert.True(chi2 < 40.0, $"chi-square {chi2} for counts %A{counts}")

let tests = testList "Philox" [
    ``Block matches Random123 philox4x32_10 known answers``
    ``FillUInt32 element i is lane i mod 4 of block i / 4``
    ``FillUInt32 is independent of chunking``
    ``FillUniform is independent of chunking``
    ``FillNormal is independent of chunking``
    ``single-element Uniform and Normal equal the fills bit for bit``
    ``uniforms and normals follow the documented formulas``
    ``ToUniform stays strictly inside (0, 1) at the extreme words``
    ``uniform fill is strictly inside (0, 1)``
    ``a million uniforms and normals have the right moments``
    ``fills reject ranges past the last index``
    ``FromSeed splits the seed into low and high words``
    ``Split and FoldIn are deterministic and give distinct keys and streams``
    ``Split rejects a negative index``
    ``UniformInt follows its documented definition``
    ``UniformInt stays in range and rejects non-positive bounds``
    ``UniformInt is roughly uniform over ten buckets``
]
