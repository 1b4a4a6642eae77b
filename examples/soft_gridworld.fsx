// Exact soft value iteration on a small gridworld, at temperatures from alpha = 0 (the hard Bellman optimality) up
// to alpha = 5: watch the optimal maximum-entropy policy go from deterministic to nearly uniform.
//
// For each alpha the script prints the soft values V(s), the greedy arrow of every cell with the probability the
// policy pi(a|s) = exp((Q(s,a) - V(s)) / alpha) gives it, the policy's entropy in each cell, and a check line: the
// largest |V(s) - alpha log sum_a exp(Q(s,a) / alpha)| (alpha = 0: |V(s) - max_a Q(s,a)|), recomputed here from Q,
// and the largest Bellman residual |Q - T Q| of the returned fixed point.
//
// After one build (dotnet build -c Release), run: dotnet fsi examples/soft_gridworld.fsx [GAMMA]
#r "../Sac.Cli/bin/Release/net10.0/System.Numerics.Tensors.dll"
#r "../Sac.Cli/bin/Release/net10.0/Sac.Core.dll"
#r "../Sac.Cli/bin/Release/net10.0/Sac.Cuda.dll"
#r "../Sac.Cli/bin/Release/net10.0/Sac.Fs.dll"

open System
open System.Globalization
open Sac.Fs.Tabular

let args = fsi.CommandLineArgs |> Array.tail
let gamma = if args.Length > 0 then Double.Parse(args.[0], CultureInfo.InvariantCulture) else 0.95
let temperatures = [ 0.0; 0.05; 0.2; 1.0; 5.0 ]

// ---- The world: S start, G goal (+1 on entry), X pit (-1 on entry), # wall, . floor ----
// Every move costs 0.04; a move goes the intended way with probability 0.8 and slips to either side with 0.1 each;
// bumping into a wall or the edge leaves the agent where it is. The pit row makes the short way along the bottom
// risky, so the hard-optimal policy takes the long, safe way round; the walls force a choice of corridor.
let layout =
    [| "S...."
       ".##.."
       "...#."
       ".#..."
       "XXX.G" |]
let rows, cols = layout.Length, layout.[0].Length
let cell r c = layout.[r].[c]
let isWall r c = cell r c = '#'
let isTerminal r c = cell r c = 'G' || cell r c = 'X'
let stepCost, goalReward, pitReward, intended, slip = -0.04, 1.0, -1.0, 0.8, 0.1

// States are the cells that are not walls, numbered row by row.
let cells = [| for r in 0 .. rows - 1 do for c in 0 .. cols - 1 do if not (isWall r c) then yield (r, c) |]
let stateOf = Map.ofArray (cells |> Array.mapi (fun s rc -> rc, s))
let nS = cells.Length

// Actions 0..3: up, right, down, left (the arrows printed for them).
let moves = [| (-1, 0); (0, 1); (1, 0); (0, -1) |]
let arrows = [| "^"; ">"; "v"; "<" |]
let nA = moves.Length

/// Where a move from (r, c) in direction d ends: the neighbour, or (r, c) itself at a wall or the edge.
let target (r, c) d =
    let dr, dc = moves.[d]
    let r', c' = r + dr, c + dc
    if r' < 0 || r' >= rows || c' < 0 || c' >= cols || isWall r' c' then (r, c) else (r', c')

/// The reward of arriving in a cell: the goal's or the pit's on entry, plus the cost of the move.
let arrival (r, c) = stepCost + (match cell r c with 'G' -> goalReward | 'X' -> pitReward | _ -> 0.0)

/// The MDP. Goal and pit are absorbing, as in examples/mdp/gridworld4x4.json: every action stays there with reward
/// 0. The policy there is uniform and keeps the entropy bonus alpha log 4 per step, so their soft value is
/// alpha log 4 / (1 - gamma), the same for both: what separates them is the reward of entering them.
let buildMdp () =
    let transitions = Array.init nS (fun _ -> Array.init nA (fun _ -> Array.zeroCreate<float> nS))
    let rewards = Array.init nS (fun _ -> Array.zeroCreate<float> nA)
    for s in 0 .. nS - 1 do
        let (r, c) = cells.[s]
        for a in 0 .. nA - 1 do
            if isTerminal r c then transitions.[s].[a].[s] <- 1.0
            else
                // The intended direction, and the two perpendicular slips (directions a +- 1 mod 4).
                for (d, p) in [ a, intended; (a + 1) % nA, slip; (a + 3) % nA, slip ] do
                    let next = target (r, c) d
                    let s' = stateOf.[next]
                    transitions.[s].[a].[s'] <- transitions.[s].[a].[s'] + p
                    rewards.[s].[a] <- rewards.[s].[a] + p * arrival next
    FiniteMdp.create transitions rewards

// ---- Printing helpers: one grid of 8-character cells per quantity ----
let printGrid (title: string) (show: int -> string) =
    printfn "  %s" title
    for r in 0 .. rows - 1 do
        let line =
            [ for c in 0 .. cols - 1 ->
                  if isWall r c then "  ####  "
                  else
                      let text = show stateOf.[(r, c)]
                      text.PadLeft 8 ]
        printfn "   %s" (String.Join("", line))

let entropy (p: float[]) = p |> Array.sumBy (fun x -> if x > 0.0 then -x * log x else 0.0)

/// alpha log sum_a exp(q_a / alpha) with the maximum shifted out (alpha = 0: the maximum), written here from its
/// definition so the check does not lean on the solver's own code.
let logSumExp (alpha: float) (q: float[]) =
    let m = Array.max q
    if alpha = 0.0 then m else m + alpha * log (q |> Array.sumBy (fun x -> exp ((x - m) / alpha)))

printfn "Soft value iteration on a %dx%d gridworld: %d states, %d actions, gamma %g" rows cols nS nA gamma
printfn "  moves cost %g; entering the goal G pays %+g and the pit X %+g, both absorbing; a move slips sideways" (-stepCost) goalReward pitReward
printfn "  with probability %g each way" slip
for line in layout do printfn "   %s" (String.Join(" ", line.ToCharArray()))
printfn ""

let mdp = buildMdp ()
let startState = stateOf.[(0, 0)]
let summary = ResizeArray<string>()
for alpha in temperatures do
    // Soft Q-iteration from Q = 0 until one sweep changes Q by less than 1e-12 (alpha = 0: value iteration).
    let solution = SoftDp.softQIteration alpha gamma 1e-12 100_000 mdp
    let q, v, pi = solution.Q, solution.V, solution.Policy
    let name = if alpha = 0.0 then "alpha = 0 (hard Bellman optimality: V = max_a Q)" else $"alpha = {alpha}"
    printfn "=== %s: %d sweeps, converged %b ===" name solution.Iterations solution.Converged
    printGrid "V(s)" (fun s -> v.[s].ToString("F3", CultureInfo.InvariantCulture))
    printGrid "greedy action and its probability pi(a*|s)" (fun s ->
        let (r, c) = cells.[s]
        if isTerminal r c then string (cell r c)
        else
            let best = pi.[s] |> Array.mapi (fun a p -> a, p) |> Array.maxBy snd
            $"""{arrows.[fst best]} {(snd best).ToString("F2", CultureInfo.InvariantCulture)}""")
    printGrid "policy entropy H(pi(.|s)) in nats (uniform: log 4 = 1.386)" (fun s ->
        let (r, c) = cells.[s]
        if isTerminal r c then string (cell r c) else (entropy pi.[s]).ToString("F3", CultureInfo.InvariantCulture))
    // Check: V is the soft maximum of Q, and Q is a fixed point of the soft Bellman operator.
    let softMaxResidual = Array.init nS (fun s -> abs (v.[s] - logSumExp alpha q.[s])) |> Array.max
    let tq = SoftDp.softBellman alpha gamma mdp q
    let bellmanResidual = Array.init nS (fun s -> Array.init nA (fun a -> abs (tq.[s].[a] - q.[s].[a])) |> Array.max) |> Array.max
    let open' = [| for s in 0 .. nS - 1 do let (r, c) = cells.[s] in if not (isTerminal r c) then yield s |]
    let meanEntropy = open' |> Array.averageBy (fun s -> entropy pi.[s])
    printfn "  check alpha %-4g: max_s |V - alpha logsumexp(Q/alpha)| = %.2e   max |Q - T Q| = %.2e   mean entropy %.3f nats"
        alpha softMaxResidual bellmanResidual meanEntropy
    printfn ""
    if softMaxResidual > 1e-9 || bellmanResidual > 1e-9 then
        eprintfn "alpha %g: residuals too large" alpha
        exit 1
    summary.Add(sprintf "  alpha %-5g V(start) %8.3f   mean entropy %.3f of %.3f   pi(a*|start) %.3f"
                    alpha v.[startState] meanEntropy (log (float nA)) (Array.max pi.[startState]))

printfn "As alpha grows the policy spreads out (entropy toward log 4) and V counts the entropy bonus as reward:"
summary |> Seq.iter (printfn "%s")
printfn "(V(start) grows with alpha because every state, absorbing ones included, earns up to alpha log 4 per step.)"
