namespace Sac.Fs

open System
open Sac.Core.Environments
open Sac.Core.Random

/// <summary>Evaluation rollouts that also count, on MultiGoal, which goal each episode reached.</summary>
[<RequireQualifiedAccess>]
module GoalEvaluation =

    /// <summary>The key of the action noise of an evaluation with <paramref name="seed"/> (what <see cref="sql"/> and a
    /// stochastic <see cref="sac"/> use): <c>PhiloxKey.FromSeed(seed).FoldIn("EVAL")</c>.</summary>
    /// <param name="seed">The evaluation seed.</param>
    [<CompiledName("NoiseKey")>]
    let noiseKey (seed: uint64) = PhiloxKey.FromSeed(seed).FoldIn 0x4556414Cu

    /// <summary>
    /// Rollouts of a Soft Q-Learning sampler (stochastic: the SQL policy is the sampler, <c>a = f(xi; s)</c> with
    /// <c>xi</c> from <see cref="noiseKey"/> of <paramref name="seed"/>), with per-goal counts on MultiGoal.
    /// </summary>
    /// <param name="ctx">The learner's fixed parts (its sizes must match the environment).</param>
    /// <param name="sampler">Sampler parameters.</param>
    /// <param name="env">The environment, in [-1, 1] action coordinates.</param>
    /// <param name="episodes">At least 1.</param>
    /// <param name="seed">Reset seed of the first episode and the noise seed.</param>
    [<CompiledName("Sql")>]
    let sql (ctx: SqlContext) (sampler: float32[]) (env: IEnvironment) (episodes: int) (seed: uint64) : EvaluationResult =
        let ws = SqlPolicyWorkspace(ctx.Networks)
        let key = noiseKey seed
        let step (index: int64) (observation: float32[]) (action: float32[]) =
            SoftQLearning.act ctx ws sampler (Stochastic(key, uint64 index)) (ReadOnlySpan observation) (Span action)
        Rollout.run env episodes seed (RolloutPolicy(fun index observation action -> step index observation action))

    /// <summary>
    /// Rollouts of a SAC actor, with per-goal counts on MultiGoal: the mean action <c>tanh(mu)</c> when
    /// <paramref name="stochastic"/> is false (as <c>Evaluation.run</c>), draws from the tanh-Gaussian with noise from
    /// <see cref="noiseKey"/> of <paramref name="seed"/> when true.
    /// </summary>
    /// <param name="ctx">The SAC learner's fixed parts.</param>
    /// <param name="actor">Actor parameters.</param>
    /// <param name="stochastic">Sample the policy instead of taking its mean action.</param>
    /// <param name="env">The environment, in [-1, 1] action coordinates.</param>
    /// <param name="episodes">At least 1.</param>
    /// <param name="seed">Reset seed of the first episode and the noise seed.</param>
    [<CompiledName("Sac")>]
    let sac (ctx: SacContext) (actor: float32[]) (stochastic: bool) (env: IEnvironment) (episodes: int) (seed: uint64) : EvaluationResult =
        let ws = PolicyWorkspace(ctx.Networks)
        let key = noiseKey seed
        let step (index: int64) (observation: float32[]) (action: float32[]) =
            let mode = if stochastic then Stochastic(key, uint64 index) else Deterministic
            Policy.act ctx ws actor mode (ReadOnlySpan observation) (Span action)
        Rollout.run env episodes seed (RolloutPolicy(fun index observation action -> step index observation action))
