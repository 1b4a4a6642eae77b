/// `sac solve`: exact soft Q-iteration on a finite MDP read from JSON (DESIGN.md, Contracts).
module Sac.Cli.Solve

open System
open System.Globalization
open System.IO
open System.Text
open Sac.Cli.Options
open Sac.Fs.Tabular

/// Stopping threshold of the sup-norm change per unit of one step's value scale, max(1, max |R| + alpha * log |A|).
[<Literal>]
let Tolerance = 1e-10

/// Most applications of the soft Bellman operator before giving up.
[<Literal>]
let MaxIterations = 100_000

let private oneLine (s: string) = s.Replace("\r", " ").Replace("\n", " ")

let private number (x: float) = x.ToString("R", CultureInfo.InvariantCulture)

let private appendRow (sb: StringBuilder) (row: float[]) =
    sb.Append('[') |> ignore
    row |> Array.iteri (fun i x -> (if i > 0 then sb.Append(',') |> ignore); sb.Append(number x) |> ignore)
    sb.Append(']') |> ignore

let private appendTable (sb: StringBuilder) (table: float[][]) =
    sb.Append('[') |> ignore
    table |> Array.iteri (fun i row -> (if i > 0 then sb.Append(',') |> ignore); appendRow sb row)
    sb.Append(']') |> ignore

/// The result as the contract's one JSON line: {"q":[[…]],"v":[…],"policy":[[…]],"iterations":n}.
let format (r: SolveResult) =
    let sb = StringBuilder()
    sb.Append("{\"q\":") |> ignore
    appendTable sb r.Q
    sb.Append(",\"v\":") |> ignore
    appendRow sb r.V
    sb.Append(",\"policy\":") |> ignore
    appendTable sb r.Policy
    sb.Append(",\"iterations\":").Append(r.Iterations.ToString(CultureInfo.InvariantCulture)).Append('}') |> ignore
    sb.ToString()

/// Reads and validates the MDP file, turning every problem into a one-line UsageError naming the file.
let load (mdpPath: string) : FiniteMdp =
    if String.IsNullOrWhiteSpace mdpPath then raise (UsageError "--mdp: no file given")
    if not (File.Exists mdpPath) then raise (UsageError $"--mdp {mdpPath}: no such file")
    let text =
        try File.ReadAllText mdpPath
        with
        | :? IOException | :? UnauthorizedAccessException as e -> raise (UsageError(oneLine $"--mdp {mdpPath}: cannot read it ({e.Message})"))
    try FiniteMdp.ofJson text mdpPath
    with
    | :? FormatException | :? ArgumentException as e -> raise (UsageError(oneLine e.Message))

/// <summary>
/// `sac solve --mdp FILE --alpha A --gamma G`: solves the MDP by soft Q-iteration (alpha = 0: hard value
/// iteration) and prints one JSON line to stdout. Iteration stops once one sweep changes Q by less than
/// 1e-10 * max(1, max |R| + alpha * log |A|), i.e. 1e-10 for rewards in [-1, 1] and alpha = 0, and relative for
/// larger rewards so that rounding alone cannot hold the change above it; the answer is then within
/// tol * gamma / (1 - gamma) of the fixed point. Not converging within 100000 sweeps is an error.
/// </summary>
/// <returns>0; every user error raises UsageError (exit 2).</returns>
let run (mdpPath: string) (alpha: float) (gamma: float) : int =
    if not (Double.IsFinite alpha && alpha >= 0.0) then
        raise (UsageError $"--alpha must be a finite number at least 0, got {number alpha}")
    if not (gamma >= 0.0 && gamma < 1.0) then
        raise (UsageError $"--gamma must be in [0, 1), got {number gamma}")
    let mdp = load mdpPath
    let maxReward = mdp.Rewards |> Array.collect id |> Array.map Math.Abs |> Array.max
    let scale = maxReward + alpha * Math.Log(float mdp.ActionCount)
    // Values reach about (|r| + alpha log|A|) / (1 - gamma): past float64's range the iteration can only overflow.
    let bound = scale / (1.0 - gamma)
    if not (Double.IsFinite bound && bound < 1e300) then
        raise (UsageError $"--mdp {mdpPath}: the rewards (largest |r| = {number maxReward}) overflow float64 at gamma {number gamma}: values would reach about {number bound}; scale the rewards down")
    let tol = Tolerance * Math.Max(1.0, scale)
    let result = SoftDp.softQIteration alpha gamma tol MaxIterations mdp
    if result.Q |> Array.exists (Array.exists (fun q -> not (Double.IsFinite q))) then
        raise (UsageError $"--mdp {mdpPath}: the values overflowed float64 (largest |r| = {number maxReward}, gamma {number gamma}); scale the rewards down")
    if not result.Converged then
        raise (UsageError $"--mdp {mdpPath}: soft Q-iteration did not converge within {MaxIterations} iterations (alpha {number alpha}, gamma {number gamma}); it needs about 23 / (1 - gamma) sweeps, so try a smaller --gamma")
    if result.Q |> Array.exists (Array.exists (Double.IsFinite >> not)) then
        raise (UsageError $"--mdp {mdpPath}: the values overflow a double (alpha {number alpha}, gamma {number gamma})")
    Console.Out.WriteLine(format result)
    Console.Out.Flush()
    0
