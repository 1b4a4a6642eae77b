namespace Sac.Fs.Tabular

open System
open System.Globalization
open System.Text.Json

/// <summary>
/// A finite Markov decision process with a fixed action count per state: <c>Transitions[s][a][s']</c> is
/// <c>P(s' | s, a)</c> and <c>Rewards[s][a]</c> is the expected reward <c>R(s, a)</c> of taking <c>a</c> in <c>s</c>.
/// </summary>
/// <remarks>
/// Build one with <c>FiniteMdp.create</c> or <c>FiniteMdp.ofJson</c>, which validate the shape and the
/// probabilities and copy the arrays, so a value made by them is always a well-formed MDP. The arrays are exposed
/// as they are; treat them as read-only.
/// </remarks>
type FiniteMdp =
    { /// <summary><c>P[s][a][s']</c>: the probability of moving to <c>s'</c> after action <c>a</c> in state <c>s</c>.</summary>
      Transitions: float[][][]
      /// <summary><c>R[s][a]</c>: the expected reward of action <c>a</c> in state <c>s</c>.</summary>
      Rewards: float[][] }

    /// <summary>The number of states |S|.</summary>
    member m.StateCount = m.Transitions.Length

    /// <summary>The number of actions |A| (the same in every state).</summary>
    member m.ActionCount = if m.Transitions.Length = 0 then 0 else m.Transitions.[0].Length

/// <summary>Construction, validation and JSON loading of <see cref="T:Sac.Fs.Tabular.FiniteMdp"/> values.</summary>
[<RequireQualifiedAccess>]
module FiniteMdp =

    /// <summary>The largest accepted |sum_s' P(s'|s,a) - 1| of a transition row (absolute).</summary>
    [<Literal>]
    let RowSumTolerance = 1e-9

    let private isNullRef (x: 'T) = obj.ReferenceEquals(x, null)

    let private fmt (x: float) = x.ToString("R", CultureInfo.InvariantCulture)

    /// The first problem with (p, r) as (parameter name, message), or None when they form a valid MDP.
    let private problem (p: float[][][]) (r: float[][]) : (string * string) option =
        let fail name msg = Some(name, msg)
        if isNullRef p then fail "transitions" "transitions is null."
        elif isNullRef r then fail "rewards" "rewards is null."
        elif p.Length = 0 then fail "transitions" "transitions has no states; at least 1 is needed."
        else
            let nS = p.Length
            if isNullRef p.[0] then fail "transitions" "transitions[0] (state 0) is null."
            else
                let nA = p.[0].Length
                if nA = 0 then fail "transitions" "transitions[0] (state 0) has no actions; at least 1 is needed."
                elif r.Length <> nS then
                    fail "rewards" $"rewards has {r.Length} states, but transitions has {nS}."
                else
                    let mutable result = None
                    let mutable s = 0
                    while result.IsNone && s < nS do
                        let ps = p.[s]
                        let rs = r.[s]
                        if isNullRef ps then result <- fail "transitions" $"transitions[{s}] (state {s}) is null."
                        elif ps.Length <> nA then
                            result <-
                                fail "transitions"
                                    $"transitions[{s}] (state {s}) has {ps.Length} actions, but state 0 has {nA}; every state needs the same action count."
                        elif isNullRef rs then result <- fail "rewards" $"rewards[{s}] (state {s}) is null."
                        elif rs.Length <> nA then
                            result <-
                                fail "rewards" $"rewards[{s}] (state {s}) has {rs.Length} actions, but transitions[{s}] has {nA}."
                        else
                            let mutable a = 0
                            while result.IsNone && a < nA do
                                let row = ps.[a]
                                let at = $"transitions[{s}][{a}] (state {s}, action {a})"
                                if isNullRef row then result <- fail "transitions" $"{at} is null."
                                elif row.Length <> nS then
                                    result <-
                                        fail "transitions" $"{at} has {row.Length} next-state probabilities, but there are {nS} states."
                                else
                                    let mutable sum = 0.0
                                    let mutable s' = 0
                                    while result.IsNone && s' < nS do
                                        let x = row.[s']
                                        if not (Double.IsFinite x) || x < 0.0 then
                                            result <-
                                                fail "transitions"
                                                    $"transitions[{s}][{a}][{s'}] (state {s}, action {a}, next state {s'}) is {fmt x}; probabilities must be finite and non-negative."
                                        else sum <- sum + x
                                        s' <- s' + 1
                                    if result.IsNone && not (Math.Abs(sum - 1.0) <= RowSumTolerance) then
                                        result <- fail "transitions" $"{at} sums to {fmt sum}; each row must sum to 1 within {RowSumTolerance}."
                                    if result.IsNone && not (Double.IsFinite rs.[a]) then
                                        result <-
                                            fail "rewards" $"rewards[{s}][{a}] (state {s}, action {a}) is {fmt rs.[a]}; rewards must be finite."
                                a <- a + 1
                        s <- s + 1
                    result

    /// <summary>
    /// Validates <c>P[s][a][s']</c> and <c>R[s][a]</c> and returns them, deep-copied, as an MDP.
    /// </summary>
    /// <param name="transitions"><c>P[s][a][s']</c>: at least 1 state and 1 action, the same action count in every
    /// state, every row of length |S| with finite non-negative entries summing to 1 within 1e-9.</param>
    /// <param name="rewards"><c>R[s][a]</c>: |S| rows of |A| finite rewards.</param>
    /// <exception cref="T:System.ArgumentException">The arrays do not form an MDP; the message names the offending
    /// state and action (and next state where one entry is at fault).</exception>
    [<CompiledName("Create")>]
    let create (transitions: float[][][]) (rewards: float[][]) : FiniteMdp =
        match problem transitions rewards with
        | Some (name, msg) -> raise (ArgumentException(msg, name))
        | None ->
            { Transitions = transitions |> Array.map (Array.map Array.copy)
              Rewards = rewards |> Array.map Array.copy }

    let private kind (e: JsonElement) =
        match e.ValueKind with
        | JsonValueKind.Array -> "an array"
        | JsonValueKind.Object -> "an object"
        | JsonValueKind.String -> "a string"
        | JsonValueKind.Number -> "a number"
        | JsonValueKind.True | JsonValueKind.False -> "a boolean"
        | JsonValueKind.Null -> "null"
        | k -> string k

    let private wrong (source: string) (path: string) (expected: string) (e: JsonElement) =
        raise (FormatException $"{source}: {path}: expected {expected}, got {kind e}.")

    let private array (source: string) (path: string) (expected: string) (e: JsonElement) =
        if e.ValueKind <> JsonValueKind.Array then wrong source path expected e
        [| for x in e.EnumerateArray() -> x |]

    let private number (source: string) (path: string) (e: JsonElement) =
        if e.ValueKind <> JsonValueKind.Number then wrong source path "a number" e
        match e.TryGetDouble() with
        | true, x when Double.IsFinite x -> x
        | _ -> raise (FormatException $"{source}: {path}: {e.GetRawText()} is not a finite double.")

    let private duplicate (source: string) (key: string) =
        raise (FormatException $"{source}: key \"{key}\" appears more than once.")

    /// <summary>
    /// Parses <c>{"transitions": P[s][a][s'], "rewards": R[s][a]}</c> and validates it as by <c>create</c>.
    /// </summary>
    /// <param name="json">The JSON text: one object with exactly the keys <c>transitions</c> and <c>rewards</c>.</param>
    /// <param name="source">Where the text came from (a file name), put at the start of every error message.</param>
    /// <exception cref="T:System.FormatException">The text is not JSON, has unknown, duplicate or missing keys, or
    /// holds a value of the wrong type; the message names the path, e.g. <c>transitions[2][1]</c>.</exception>
    /// <exception cref="T:System.ArgumentException">The arrays parse but do not form an MDP (as for <c>create</c>).</exception>
    [<CompiledName("OfJson")>]
    let ofJson (json: string) (source: string) : FiniteMdp =
        if isNullRef json then raise (ArgumentNullException(nameof json))
        use doc =
            try JsonDocument.Parse json
            with :? JsonException as e -> raise (FormatException($"{source}: not valid JSON ({e.Message})", e))
        let root = doc.RootElement
        if root.ValueKind <> JsonValueKind.Object then
            wrong source "top level" "an object with keys \"transitions\" and \"rewards\"" root
        let mutable transitions = None
        let mutable rewards = None
        for prop in root.EnumerateObject() do
            match prop.Name with
            | "transitions" ->
                if transitions.IsSome then duplicate source prop.Name
                let p =
                    array source "transitions" "an array of states" prop.Value
                    |> Array.mapi (fun s es ->
                        array source $"transitions[{s}]" "an array of actions" es
                        |> Array.mapi (fun a ea ->
                            array source $"transitions[{s}][{a}]" "an array of next-state probabilities" ea
                            |> Array.mapi (fun s' e -> number source $"transitions[{s}][{a}][{s'}]" e)))
                transitions <- Some p
            | "rewards" ->
                if rewards.IsSome then duplicate source prop.Name
                let r =
                    array source "rewards" "an array of states" prop.Value
                    |> Array.mapi (fun s es ->
                        array source $"rewards[{s}]" "an array of rewards, one per action" es
                        |> Array.mapi (fun a e -> number source $"rewards[{s}][{a}]" e))
                rewards <- Some r
            | other ->
                raise (FormatException $"{source}: unknown key \"{other}\" (expected \"transitions\" and \"rewards\").")
        match transitions, rewards with
        | None, _ -> raise (FormatException $"{source}: missing key \"transitions\".")
        | _, None -> raise (FormatException $"{source}: missing key \"rewards\".")
        | Some p, Some r ->
            match problem p r with
            | Some (_, msg) -> raise (ArgumentException $"{source}: {msg}")
            | None -> { Transitions = p; Rewards = r }
