// Checking a loss of your own with FsCheck before you train with it: a smooth L1 (Huber-style) critic loss with a
// hand-written gradient, tested the way this library tests its own losses.
//   (a) the gradient against central finite differences, in float64;
//   (b) invariants: non-negative, zero exactly when q = y, symmetric in q and y, and for small residuals equal to
//       the library's squared loss Losses.critic divided by beta;
//   (c) the library's Losses.critic gradient against finite differences, the same way;
// and a deliberately wrong gradient, to see FsCheck catch it and shrink the failure to a small counterexample.
// Exits with 0 when every check passes and the wrong gradient is caught, 1 otherwise.
//
// After one build (dotnet build -c Release), run: dotnet fsi examples/check_your_loss.fsx
#r "nuget: FsCheck, 3.6.0"
#r "../Sac.Cli/bin/Release/net10.0/System.Numerics.Tensors.dll"
#r "../Sac.Cli/bin/Release/net10.0/Sac.Core.dll"
#r "../Sac.Cli/bin/Release/net10.0/Sac.Cuda.dll"
#r "../Sac.Cli/bin/Release/net10.0/Sac.Fs.dll"

open System
open FsCheck
open FsCheck.FSharp
open Sac.Fs

// ---- Your loss: pure functions over arrays ----

/// Smooth L1 loss (PyTorch's SmoothL1Loss, mean reduction): L = mean_i h(q_i - y_i) with
/// h(d) = 0.5 d^2 / beta for |d| < beta and |d| - 0.5 beta beyond. Quadratic near 0, linear in the tails, so a
/// single bad target cannot produce a huge gradient.
let smoothL1 (beta: float) (q: float[]) (y: float[]) : float =
    Array.map2 (fun qi yi ->
        let d = qi - yi
        if abs d < beta then 0.5 * d * d / beta else abs d - 0.5 * beta) q y
    |> Array.average

/// Its gradient dL/dq_i = h'(q_i - y_i) / B, with h'(d) = d / beta inside and sign(d) outside (continuous at |d| = beta).
let smoothL1Grad (beta: float) (q: float[]) (y: float[]) : float[] =
    let b = float q.Length
    Array.map2 (fun qi yi ->
        let d = qi - yi
        (if abs d < beta then d / beta else float (sign d)) / b) q y

/// The same gradient with a classic slip: the 1 / beta of the quadratic part is forgotten. With beta = 1 it is
/// right, which is exactly why a test with hand-picked examples can miss it.
let smoothL1GradWrong (beta: float) (q: float[]) (y: float[]) : float[] =
    let b = float q.Length
    Array.map2 (fun qi yi ->
        let d = qi - yi
        (if abs d < beta then d else float (sign d)) / b) q y

// ---- Generated inputs: small integers scaled to a quarter grid, so that FsCheck shrinks them toward 0 and every
//      value, residual and shift is exact in float32 and float64 ----

let quarter (k: int) = float (k % 64) / 4.0
let inputs (rows: (int * int)[]) = Array.map (fst >> quarter) rows, Array.map (snd >> quarter) rows
let betaOf (PositiveInt k) = float (k % 16 + 1) / 4.0

/// Central finite differences of f at x: (f(x + h e_i) - f(x - h e_i)) / (2 h), one coordinate at a time.
let finiteDifferences (h: float) (f: float[] -> float) (x: float[]) =
    Array.init x.Length (fun i ->
        let plus, minus = Array.copy x, Array.copy x
        plus.[i] <- x.[i] + h
        minus.[i] <- x.[i] - h
        (f plus - f minus) / (2.0 * h))

/// Throws, naming the inputs (as the loss sees them) and the first bad coordinate, unless every
/// |analytic - numeric| <= tol.
let gradientsAgree (inputs: string) (tol: float) (analytic: float[]) (numeric: float[]) =
    Array.iteri2 (fun i g n ->
        if not (abs (g - n) <= tol) then
            failwithf "%s: dL/dq[%d] is %.9g, finite differences give %.9g" inputs i g n) analytic numeric
    true

let config = Config.QuickThrowOnFailure.WithMaxTest(300)
let check name (property: 'P) =
    printf "%-72s " name
    Check.One(config, property)

/// The gradient property for a given gradient function: analytic = central differences with h = 1e-6, in float64.
/// smoothL1 is continuously differentiable, so the differences match to about h / beta even across |d| = beta.
let gradientMatches (grad: float -> float[] -> float[] -> float[]) =
    fun (NonEmptyArray rows: NonEmptyArray<int * int>) (k: PositiveInt) ->
        let q, y = inputs rows
        let beta = betaOf k
        gradientsAgree $"beta = {beta}, q = %A{q}, y = %A{y}" 1e-5 (grad beta q y) (finiteDifferences 1e-6 (fun q' -> smoothL1 beta q' y) q)

// ---- (a) the hand-written gradient against finite differences ----

check "(a) smoothL1Grad = central finite differences (float64)" (gradientMatches smoothL1Grad)

// ---- (b) invariants ----

check "(b) L >= 0" (fun (NonEmptyArray rows: NonEmptyArray<int * int>) (k: PositiveInt) ->
    let q, y = inputs rows
    smoothL1 (betaOf k) q y >= 0.0)

check "(b) L = 0 exactly when q = y" (fun (NonEmptyArray rows: NonEmptyArray<int * int>) (k: PositiveInt) ->
    let q, y = inputs rows
    (smoothL1 (betaOf k) q y = 0.0) = (q = y))

check "(b) L(q, y) = L(y, q)" (fun (NonEmptyArray rows: NonEmptyArray<int * int>) (k: PositiveInt) ->
    let q, y = inputs rows
    smoothL1 (betaOf k) q y = smoothL1 (betaOf k) y q)

// Where every |q - y| < beta, smooth L1 is the library's critic loss mean 0.5 (q - y)^2 divided by beta
// (Losses.critic works in float32, hence the relative tolerance).
check "(b) L = Losses.critic / beta when every |q - y| < beta" (fun (NonEmptyArray rows: NonEmptyArray<int * int>) (k: PositiveInt) ->
    let beta = betaOf k
    let q, y0 = inputs rows
    // Pull each target to within beta of its q, keeping the quarter grid: |d| <= beta - 1/4.
    let y = Array.map2 (fun qi yi -> qi + Math.Clamp(yi - qi, -(beta - 0.25), beta - 0.25)) q y0
    let dq = Array.zeroCreate<float32> q.Length
    let library = Losses.critic q.Length (ReadOnlySpan(Array.map float32 q), ReadOnlySpan(Array.map float32 y), Span dq)
    let ours = smoothL1 beta q y
    abs (ours - float library / beta) <= 1e-6 * (1.0 + ours))

// ---- (c) the library's critic loss gradient, the same way ----

// Losses.critic returns a float32 loss, so the differences use a large step: the loss is quadratic in q, for which a
// central difference is exact at any step, and the float32 rounding of the loss (about 1e-7 relative) divided by
// the step is then far below the gradients being checked.
check "(c) Losses.critic gradient = central finite differences" (fun (NonEmptyArray rows: NonEmptyArray<int * int>) ->
    let q, y = inputs rows
    let n = q.Length
    let y32 = Array.map float32 y
    let loss (q': float[]) =
        float (Losses.critic n (ReadOnlySpan(Array.map float32 q'), ReadOnlySpan y32, Span(Array.zeroCreate<float32> n)))
    let dq = Array.zeroCreate<float32> n
    let l = Losses.critic n (ReadOnlySpan(Array.map float32 q), ReadOnlySpan y32, Span dq)
    let h = 0.5
    gradientsAgree $"q = %A{q}, y = %A{y}" (8.0 * 1.2e-7 * (1.0 + float l) / h) (Array.map float dq) (finiteDifferences h loss q))

// ---- The wrong gradient: FsCheck must find and shrink a counterexample ----

printfn ""
printfn "Now the wrong gradient (smoothL1GradWrong, missing 1 / beta), which should fail:"
let caught =
    try
        check "(a) smoothL1GradWrong = central finite differences" (gradientMatches smoothL1GradWrong)
        false
    with e ->
        // QuickThrowOnFailure's message: how many tests and shrinks it took, then the shrunk arguments and the reason.
        printfn "FAILED, as it should. FsCheck's report:"
        for line in e.Message.Split('\n') do
            // The stack trace of the failed assertion says nothing about the counterexample: leave it out.
            if line.Trim() <> "" && not (line.TrimStart().StartsWith "at ") then printfn "    %s" (line.TrimEnd())
        true

if caught then
    printfn "All checks passed, and the wrong gradient was caught."
    exit 0
else
    eprintfn "The wrong gradient was NOT caught: the properties are too weak."
    exit 1
