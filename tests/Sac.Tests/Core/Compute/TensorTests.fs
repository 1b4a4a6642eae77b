module TensorTests

open System
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Compute

let ``rows, elements and reshapes are views of one row-major array`` = testCase "rows, elements and reshapes are views of one row-major array" <| fun () ->
    let t = Tensor(2, 3)
    t.[1, 2] <- 5.0f
    Assert.Equal(5.0f, t.Data.[5])
    t.Row(0).Fill 1.0f
    Assert.Equal<float32[]>([| 1.0f; 1.0f; 1.0f; 0.0f; 0.0f; 5.0f |], t.Data)
    let flat = t.Reshape(6)
    flat.Span.[3] <- 7.0f
    Assert.Equal(7.0f, t.[1, 0])
    Assert.Equal(6, Tensor(4, 3, 2).Reshape(4, 6).Columns)

let ``bad shapes and indices are rejected with what was wrong`` = testCase "bad shapes and indices are rejected with what was wrong" <| fun () ->
    Assert.Contains("Dimension 1", (Assert.Throws<ArgumentException>(fun () -> Tensor(2, 0) |> ignore)).Message)
    Assert.Contains("6 elements", (Assert.Throws<ArgumentException>(fun () -> Tensor(2, 3).Reshape(4, 2) |> ignore)).Message)
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> let _ = Tensor(2, 3).Row(2) in ()) |> ignore
    Assert.Throws<ArgumentException>(fun () -> Tensor.FromArray(Array.zeroCreate 5, 2, 3) |> ignore) |> ignore

let ``tensor multiply equals the reference GEMM and checks shapes`` = testCase "tensor multiply equals the reference GEMM and checks shapes" <| fun () ->
    let gen =
        gen {
            let! m = Gen.choose (1, 20)
            let! n = Gen.choose (1, 20)
            let! k = Gen.choose (1, 20)
            let! ta = Gen.elements [ Transpose.No; Transpose.Yes ]
            let! tb = Gen.elements [ Transpose.No; Transpose.Yes ]
            return m, n, k, ta, tb
        }
    let prop (m, n, k, ta, tb) =
        let rnd = Random(m * 400 + n * 20 + k)
        let a = if ta = Transpose.No then Tensor(m, k) else Tensor(k, m)
        let b = if tb = Transpose.No then Tensor(k, n) else Tensor(n, k)
        for t in [ a; b ] do
            for i in 0 .. t.Length - 1 do t.Data.[i] <- float32 (rnd.NextDouble() - 0.5)
        let c, r = Tensor(m, n), Tensor(m, n)
        for g in TestProviders.gemms do
            g.Multiply(a, ta, b, tb, c)
            ReferenceGemm.Instance.Sgemm(ta, tb, m, n, k, 1.0f, ReadOnlySpan a.Data, a.Columns, ReadOnlySpan b.Data, b.Columns, 0.0f, Span r.Data, n)
            Assert.True(Array.forall2 (fun (x: float32) y -> abs (x - y) < 1e-4f) c.Data r.Data, TestProviders.label g)
    Check.One(Config.QuickThrowOnFailure.WithMaxTest(40), Prop.forAll (Arb.fromGen gen) prop)
    let ex = Assert.Throws<ArgumentException>(fun () -> ReferenceGemm.Instance.Multiply(Tensor(2, 3), Transpose.No, Tensor(4, 2), Transpose.No, Tensor(2, 2)))
    Assert.Contains("Inner dimensions", ex.Message)

let tests = testList "Tensor" [
    ``rows, elements and reshapes are views of one row-major array``
    ``bad shapes and indices are rejected with what was wrong``
    ``tensor multiply equals the reference GEMM and checks shapes``
]
