namespace Sac.Fs

open System
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Optim
open Sac.Core.Random
open Sac.Cuda.Backend

/// <summary>A <see cref="T:Sac.Cuda.Backend.DeviceArray"/> of the host backend: a plain managed array.</summary>
/// <param name="data">The elements, used in place (not copied): a learner's own arrays can be the backend's.</param>
[<Sealed>]
type HostArray(data: float32[]) =
    inherit DeviceArray(data.Length)

    /// <summary>A new zeroed array of <paramref name="length"/> elements.</summary>
    /// <param name="length">The element count.</param>
    new(length: int) = new HostArray(Array.zeroCreate<float32> length)

    /// <summary>The elements (length <c>Length</c>); readable and writable by any host code.</summary>
    member _.Data : float32[] = data

    /// <summary>Nothing to release: the garbage collector owns the array.</summary>
    /// <param name="disposing">True from <c>Dispose()</c>.</param>
    override _.Dispose(disposing: bool) = ignore disposing

// A pair of branches as one fork-join on a worker team: part i runs branch i on lane i; parts past 1 do nothing.
[<Sealed>]
type internal PairOnTeam(lanes: ISacBackend[]) =
    member val Work : IPairWork | null = null with get, set
    interface IPartitionedWork with
        member this.Execute(part, _) =
            if part < 2 then (nonNull this.Work).Execute(lanes.[part], part)

/// <summary>
/// The reference implementation of <see cref="T:Sac.Cuda.Backend.ISacBackend"/> on host arrays. Every operation calls
/// the library definition it names (<c>IGemm.Sgemm</c>, <c>FusedOps</c>, <c>Philox.FillNormal</c>,
/// <c>TanhGaussian</c>, <c>SoftBellman.targetBatch</c>, <c>Losses</c>, <c>Adam.Step</c>, <c>Polyak.Update</c>), so
/// an update written against the seam and run here computes what the CPU code computes; a GPU backend is checked
/// against it. Work runs synchronously on the calling thread, but for <c>RunPair</c>'s branches, which run side by
/// side when the GEMM is the managed one with two or more threads; nothing allocates after the arrays.
/// </summary>
/// <param name="gemm">The matrix-multiply provider behind <c>Gemm</c>.</param>
[<Sealed>]
type HostBackend(gemm: IGemm) =
    do ArgumentNullException.ThrowIfNull gemm

    // Side-by-side branches (RunPair): with a managed GEMM of two or more threads, branch i runs on thread i of that
    // GEMM's own team with a one-thread GEMM of the same kernel, so no GEMM inside a branch is split and one set of
    // threads serves both kinds of splitting. Otherwise the branches run in order on this backend.
    let lanes : HostBackend[] =
        match gemm with
        | :? ManagedGemm as m when m.Threads >= 2 -> Array.init 2 (fun _ -> new HostBackend(new ManagedGemm(1, m.Kernel)))
        | _ -> [||]
    let pairOnTeam = PairOnTeam(lanes |> Array.map (fun l -> l :> ISacBackend))

    static let array (s: DeviceSlice) : float32[] =
        match box s.Array with
        | :? HostArray as h -> h.Data
        | null -> invalidArg "slice" "The slice has no array (a default DeviceSlice)."
        | a -> invalidArg "slice" $"The slice lies in a {a.GetType().Name}, not a HostArray; only the backend that allocated an array may use it."

    static let span (s: DeviceSlice) = Span<float32>(array s, s.Offset, s.Length)
    static let read (s: DeviceSlice) = ReadOnlySpan<float32>(array s, s.Offset, s.Length)

    static let sameLength (what: string) (expected: int) (actual: int) =
        if expected <> actual then invalidArg what $"{what} has {actual} elements, expected {expected}."

    /// <summary>The GEMM provider this backend multiplies with.</summary>
    member _.GemmProvider = gemm

    /// <summary>The host view of a slice of a <see cref="HostArray"/> (for tests and host-side callers).</summary>
    /// <param name="slice">A slice of an array this backend allocated.</param>
    static member Span(slice: DeviceSlice) : Span<float32> = span slice

    interface ISacBackend with
        member _.Name = "host"

        member _.Allocate(length) = new HostArray(length) :> DeviceArray

        member _.Upload(source, dest) =
            sameLength "source" dest.Length source.Length
            source.CopyTo(span dest)

        member _.Download(source, dest) =
            sameLength "dest" source.Length dest.Length
            (read source).CopyTo(dest)

        member _.Copy(source, dest) =
            sameLength "source" dest.Length source.Length
            (read source).CopyTo(span dest)

        member _.Synchronize() = ()

        member _.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) =
            gemm.Sgemm(transA, transB, m, n, k, alpha, read a, lda, read b, ldb, beta, span c, ldc)

        member _.BiasActivationForward(z, rows, cols, bias, activation) =
            FusedOps.BiasActivationForward(span z, rows, cols, read bias, activation)

        member _.ActivationBackward(y, dy, activation) =
            FusedOps.ActivationBackward(read y, span dy, activation)

        member _.GemmBiasActivation(transA, transB, m, n, k, a, lda, b, ldb, c, bias, activation) =
            match gemm with
            | :? ManagedGemm as managed ->
                managed.SgemmBiasActivation(transA, transB, m, n, k, read a, lda, read b, ldb, span c, read bias, activation)
            | _ ->
                gemm.Sgemm(transA, transB, m, n, k, 1.0f, read a, lda, read b, ldb, 0.0f, span c, n)
                FusedOps.BiasActivationForward(span c, m, n, read bias, activation)

        member _.GemmActivationBackward(transA, transB, m, n, k, a, lda, b, ldb, beta, c, y, activation) =
            match gemm with
            | :? ManagedGemm as managed ->
                managed.SgemmActivationBackward(transA, transB, m, n, k, read a, lda, read b, ldb, beta, span c, read y, activation)
            | _ ->
                gemm.Sgemm(transA, transB, m, n, k, 1.0f, read a, lda, read b, ldb, beta, span c, n)
                FusedOps.ActivationBackward(read y, span c, activation)

        member _.ColumnSums(x, rows, cols, dest, accumulate) =
            FusedOps.ColumnSums(read x, rows, cols, span dest, accumulate)

        member _.Sum(x, dest) =
            sameLength "dest" 1 dest.Length
            // The same reduction the CPU update uses for its batch means.
            (span dest).[0] <- System.Numerics.Tensors.TensorPrimitives.Sum(read x)

        member _.FillNormal(key: PhiloxKey, offset: uint64, dest) = Philox.FillNormal(key, offset, span dest)

        member _.ConcatColumns(rows, left, leftCols, right, rightCols, dest) =
            sameLength "left" (rows * leftCols) left.Length
            sameLength "right" (rows * rightCols) right.Length
            sameLength "dest" (rows * (leftCols + rightCols)) dest.Length
            Rows.concat rows leftCols rightCols (read left) (read right) (span dest)

        member _.SumColumnBlock(rows, width, offset, cols, x1, x2, dest) =
            if offset < 0 || cols < 0 || offset + cols > width then
                invalidArg "offset" $"Columns [{offset}, {offset + cols}) do not lie inside a width of {width}."
            sameLength "x1" (rows * width) x1.Length
            sameLength "x2" (rows * width) x2.Length
            sameLength "dest" (rows * cols) dest.Length
            Rows.sumColumnBlock rows width offset cols (read x1) (read x2) (span dest)

        member _.TanhGaussianForward(bound: LogStdBound, logStdMin, logStdMax, rows, actDim, actorOutput, noise, action, sigma, logStdGrad, logPi) =
            let struct (isClamp, lo, hi) = TanhGaussian.unpackKind bound logStdMin logStdMax
            let n = rows * actDim
            sameLength "actorOutput" (2 * n) actorOutput.Length
            sameLength "noise" n noise.Length
            sameLength "action" n action.Length
            sameLength "sigma" n sigma.Length
            sameLength "logStdGrad" n logStdGrad.Length
            sameLength "logPi" rows logPi.Length
            // Row i of the actor output is [mean (A), raw log-std (A)]: both read in place with stride 2A.
            let out = read actorOutput
            TanhGaussian.forwardRows isClamp lo hi rows actDim (2 * actDim) out (out.Slice(min actDim out.Length)) (read noise)
                (span action) Span<float32>.Empty (span sigma) (span logStdGrad) (span logPi)

        member _.TanhGaussianBackward(rows, actDim, action, sigma, noise, logStdGrad, actionGrad, logPiGrad, actorOutputGrad) =
            let n = rows * actDim
            sameLength "action" n action.Length
            sameLength "sigma" n sigma.Length
            sameLength "noise" n noise.Length
            sameLength "logStdGrad" n logStdGrad.Length
            sameLength "actionGrad" n actionGrad.Length
            sameLength "logPiGrad" rows logPiGrad.Length
            sameLength "actorOutputGrad" (2 * n) actorOutputGrad.Length
            let dOut = span actorOutputGrad
            TanhGaussian.backwardRows rows actDim (2 * actDim) (read action) (read sigma) (read noise) (read logStdGrad)
                (read actionGrad) (read logPiGrad) dOut (dOut.Slice(min actDim dOut.Length))

        member _.GsdeExploration(fullStd, expln, latentDim, actDim, logStd, eps, std, exploration) =
            Gsde.exploration fullStd expln latentDim actDim (read logStd) (read eps) (span std) (span exploration)

        member _.GsdeForward(rows, latentDim, actDim, latent, meanRaw, std, exploration, action, noise, variance, logPi) =
            Gsde.forwardRows rows latentDim actDim (read latent) (read meanRaw) (read std) (read exploration) (span action)
                (span noise) (span variance) (span logPi)

        member _.GsdeBackward(rows, latentDim, actDim, fullStd, expln, latent, meanRaw, logStd, eps, std, action, noise,
                              variance, actionGrad, logPiGrad, meanGrad, logStdGrad, latentGrad) =
            Gsde.backwardRows rows latentDim actDim fullStd expln (read latent) (read meanRaw) (read logStd) (read eps)
                (read std) (read action) (read noise) (read variance) (read actionGrad) (read logPiGrad) (span meanGrad)
                (span logStdGrad) (span latentGrad)

        member _.SoftTarget(gamma, alpha, reward, terminated, q1, q2, logPi, target) =
            let n = target.Length
            sameLength "reward" n reward.Length
            sameLength "terminated" n terminated.Length
            sameLength "q1" n q1.Length
            sameLength "q2" n q2.Length
            sameLength "logPi" n logPi.Length
            SoftBellman.targetBatch gamma alpha n (read reward, read terminated, read q1, read q2, read logPi, span target)

        member _.CriticLoss(q, target, qGrad, terms) =
            let n = q.Length
            sameLength "target" n target.Length
            sameLength "qGrad" n qGrad.Length
            sameLength "terms" n terms.Length
            Losses.criticTerms n (read q, read target, span qGrad, span terms)

        member _.ActorLoss(alpha, logPi, q1, q2, logPiGrad, q1Grad, q2Grad, terms) =
            let n = logPi.Length
            sameLength "q1" n q1.Length
            sameLength "q2" n q2.Length
            sameLength "logPiGrad" n logPiGrad.Length
            sameLength "q1Grad" n q1Grad.Length
            sameLength "q2Grad" n q2Grad.Length
            sameLength "terms" n terms.Length
            Losses.actorTerms alpha n (read logPi, read q1, read q2, span logPiGrad, span q1Grad, span q2Grad, span terms)

        member _.Adam(config: AdamConfig, step, parameters, gradients, firstMoment, secondMoment, learningRateFactor) =
            Adam.Step(config, learningRateFactor, step, read gradients, span parameters, span firstMoment, span secondMoment)

        member _.Polyak(tau, online, target) = Polyak.Update(tau, read online, span target)

        member this.RunPair(work) =
            ArgumentNullException.ThrowIfNull work
            match gemm with
            | :? ManagedGemm as m when lanes.Length = 2 ->
                pairOnTeam.Work <- work
                try m.Team.Run pairOnTeam
                finally pairOnTeam.Work <- null
            | _ ->
                work.Execute(this, 0)
                work.Execute(this, 1)

    /// <summary>Releases the one-thread GEMMs of the side-by-side lanes; the GEMM passed in stays the caller's.</summary>
    interface IDisposable with
        member _.Dispose() =
            for lane in lanes do
                match lane.GemmProvider with
                | :? IDisposable as d -> d.Dispose()
                | _ -> ()
