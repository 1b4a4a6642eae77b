namespace Sac.Fs

open System
open Sac.Core.Environments

/// <summary>Summary statistics of evaluation returns.</summary>
type EvaluationResult =
    { /// <summary>Each episode's return.</summary>
      Returns: float[]
      /// <summary>Mean return.</summary>
      Mean: float
      /// <summary>Population standard deviation of the returns.</summary>
      Std: float
      /// <summary>On MultiGoal, <c>Goals[g]</c> is the number of episodes that ended at goal g (length
      /// <c>MultiGoal.GoalCount</c>); empty on any other environment.</summary>
      Goals: int[] }

/// <summary>A policy for <see cref="Rollout.run"/>: writes the action for the observation at the rollout's
/// <c>index</c>-th step (counted over all its episodes, so it can key a noise stream).</summary>
type RolloutPolicy = delegate of index: int64 * observation: float32[] * action: float32[] -> unit

/// <summary>The one evaluation routine every algorithm uses: episodes of a policy, their returns, and goal counts.</summary>
[<RequireQualifiedAccess>]
module Rollout =

    /// <summary>Mean and standard deviation of a sample (population form; 0 for one value), with goal counts.</summary>
    /// <param name="returns">Each episode's return.</param>
    /// <param name="goals">Per-goal episode counts (empty when the environment has no goals).</param>
    [<CompiledName("Summarize")>]
    let summarize (returns: float[]) (goals: int[]) =
        let mean = Array.average returns
        let var = returns |> Array.averageBy (fun r -> (r - mean) * (r - mean))
        { Returns = returns; Mean = mean; Std = sqrt var; Goals = goals }

    /// <summary>
    /// Runs <paramref name="episodes"/> episodes on <paramref name="env"/>, episode k reset with seed
    /// <c>seed + k</c> (reproducible and comparable across checkpoints), acting with <paramref name="policy"/>. An
    /// episode ends when the environment terminates or truncates it, or at its <c>MaxEpisodeSteps</c> (Gymnasium's
    /// make enforces that limit whether or not a TimeLimit wraps the environment). When <paramref name="env"/> is or
    /// wraps a <see cref="T:Sac.Core.Environments.MultiGoal"/>, an episode that terminated at goal g counts for g.
    /// </summary>
    /// <param name="env">The environment, in the action coordinates the policy writes.</param>
    /// <param name="episodes">At least 1.</param>
    /// <param name="seed">Reset seed of the first episode.</param>
    /// <param name="policy">Writes each action.</param>
    [<CompiledName("Run")>]
    let run (env: IEnvironment) (episodes: int) (seed: uint64) (policy: RolloutPolicy) : EvaluationResult =
        if episodes < 1 then invalidArg (nameof episodes) $"episodes must be at least 1, got {episodes}."
        let multi = MultiGoal.Find env
        let goals = match multi with null -> Array.empty<int> | _ -> Array.zeroCreate<int> MultiGoal.GoalCount
        let obs = Array.zeroCreate<float32> env.ObservationSpace.Dimension
        let action = Array.zeroCreate<float32> env.ActionSpace.Dimension
        let limit = if env.MaxEpisodeSteps.HasValue then env.MaxEpisodeSteps.Value else Int32.MaxValue
        let mutable index = 0L
        let returns =
            Array.init episodes (fun k ->
                env.Reset(Nullable(seed + uint64 k), Span obs)
                let mutable total = 0.0
                let mutable fin = false
                let mutable steps = 0
                while not fin do
                    policy.Invoke(index, obs, action)
                    index <- index + 1L
                    let r = env.Step(ReadOnlySpan action, Span obs)
                    total <- total + float r.Reward
                    steps <- steps + 1
                    fin <- r.Terminated || r.Truncated || steps >= limit
                    if r.Terminated then
                        match multi with
                        | null -> ()
                        | m -> if m.ReachedGoal.HasValue then goals.[m.ReachedGoal.Value] <- goals.[m.ReachedGoal.Value] + 1
                total)
        summarize returns goals

/// <summary>Deterministic evaluation of a SAC actor.</summary>
[<RequireQualifiedAccess>]
module Evaluation =

    /// <summary>
    /// Runs <paramref name="episodes"/> episodes with the mean action tanh(mu) (see <see cref="Rollout.run"/>);
    /// episode k is reset with seed <c>seed + k</c>.
    /// </summary>
    /// <param name="ctx">The SAC learner's fixed parts.</param>
    /// <param name="ws">Acting buffers.</param>
    /// <param name="actor">Actor parameters.</param>
    /// <param name="env">The environment, in [-1, 1] action coordinates.</param>
    /// <param name="episodes">At least 1.</param>
    /// <param name="seed">Reset seed of the first episode.</param>
    [<CompiledName("Run")>]
    let run (ctx: SacContext) (ws: PolicyWorkspace) (actor: float32[]) (env: IEnvironment) (episodes: int) (seed: uint64) =
        Rollout.run env episodes seed
            (RolloutPolicy(fun _ obs action -> Policy.act ctx ws actor Deterministic (ReadOnlySpan obs) (Span action)))
