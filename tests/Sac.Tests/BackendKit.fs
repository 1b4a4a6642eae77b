/// A backend for tests that forwards every operation to another, under a name of its choice; a test overrides the
/// one or two operations it wants to break or observe.
module BackendKit

open System
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Optim
open Sac.Cuda.Backend

/// Forwards every <see cref="ISacBackend"/> operation to <paramref name="inner"/>; <c>Gemm</c>, <c>SoftTarget</c>,
/// <c>Polyak</c> and <c>RunPair</c> may be overridden. Pairs run in order on this backend unless overridden.
type ForwardingBackend(inner: ISacBackend, name: string) =
    /// <summary>The GEMM; forwarded unless overridden.</summary>
    abstract Gemm: transA: Transpose * transB: Transpose * m: int * n: int * k: int * alpha: float32 * a: DeviceSlice * lda: int * b: DeviceSlice * ldb: int * beta: float32 * c: DeviceSlice * ldc: int -> unit
    default _.Gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) = inner.Gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    /// <summary>Runs a pair; branch 0 then branch 1 on this backend unless overridden.</summary>
    abstract RunPair: work: IPairWork -> unit
    default this.RunPair w =
        w.Execute(this, 0)
        w.Execute(this, 1)
    /// <summary>The soft target; forwarded unless overridden.</summary>
    abstract SoftTarget: gamma: float32 * alpha: float32 * reward: DeviceSlice * terminated: DeviceSlice * q1: DeviceSlice * q2: DeviceSlice * logPi: DeviceSlice * target: DeviceSlice -> unit
    default _.SoftTarget(g, a, r, t, q1, q2, lp, y) = inner.SoftTarget(g, a, r, t, q1, q2, lp, y)
    /// <summary>Polyak averaging; forwarded unless overridden.</summary>
    abstract Polyak: tau: float32 * online: DeviceSlice * target: DeviceSlice -> unit
    default _.Polyak(t, o, g) = inner.Polyak(t, o, g)
    interface ISacBackend with
        member _.Name = name
        member _.Allocate n = inner.Allocate n
        member _.Upload(s, d) = inner.Upload(s, d)
        member _.Download(s, d) = inner.Download(s, d)
        member _.Copy(s, d) = inner.Copy(s, d)
        member _.Synchronize() = ()
        member this.Gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) = this.Gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        member _.BiasActivationForward(z, r, c, b, act) = inner.BiasActivationForward(z, r, c, b, act)
        member _.ActivationBackward(y, dy, act) = inner.ActivationBackward(y, dy, act)
        member _.ColumnSums(x, r, c, d, acc) = inner.ColumnSums(x, r, c, d, acc)
        member _.Sum(x, d) = inner.Sum(x, d)
        member _.FillNormal(k, o, d) = inner.FillNormal(k, o, d)
        member _.ConcatColumns(r, l, lc, rr, rc, d) = inner.ConcatColumns(r, l, lc, rr, rc, d)
        member _.SumColumnBlock(r, w, o, c, x1, x2, d) = inner.SumColumnBlock(r, w, o, c, x1, x2, d)
        member _.TanhGaussianForward(b, lo, hi, r, a, o, n, act, s, g, lp) = inner.TanhGaussianForward(b, lo, hi, r, a, o, n, act, s, g, lp)
        member _.TanhGaussianBackward(r, a, act, s, n, g, ag, lg, og) = inner.TanhGaussianBackward(r, a, act, s, n, g, ag, lg, og)
        member _.GsdeExploration(f, e, l, a, ls, eps, s, x) = inner.GsdeExploration(f, e, l, a, ls, eps, s, x)
        member _.GsdeForward(r, l, a, phi, mu, s, x, act, n, v, lp) = inner.GsdeForward(r, l, a, phi, mu, s, x, act, n, v, lp)
        member _.GsdeBackward(r, l, a, f, e, phi, mu, ls, eps, s, act, n, v, ag, lg, mg, sg, pg) =
            inner.GsdeBackward(r, l, a, f, e, phi, mu, ls, eps, s, act, n, v, ag, lg, mg, sg, pg)
        member this.SoftTarget(g, a, r, t, q1, q2, lp, y) = this.SoftTarget(g, a, r, t, q1, q2, lp, y)
        member _.CriticLoss(q, y, g, t) = inner.CriticLoss(q, y, g, t)
        member _.ActorLoss(a, lp, q1, q2, lg, g1, g2, t) = inner.ActorLoss(a, lp, q1, q2, lg, g1, g2, t)
        member _.Adam(c, s, p, g, m, v, f) = inner.Adam(c, s, p, g, m, v, f)
        member this.Polyak(t, o, g) = this.Polyak(t, o, g)
        member this.RunPair w = this.RunPair w
    interface IDisposable with
        member _.Dispose() = ()
