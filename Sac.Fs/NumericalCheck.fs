namespace Sac.Fs

open System
open Sac.Core.Compute
open Sac.Core.Data
open Sac.Core.Runs

/// <summary>
/// Finite-value checks a trainer runs after every update, so a NaN or infinity is reported at the update where it
/// first appears (with what held it and at which step) instead of silently spreading through the networks. One SIMD
/// pass per array: a few microseconds against an update's milliseconds.
/// </summary>
[<RequireQualifiedAccess>]
module NumericalCheck =

    /// <summary>Raises <see cref="NumericalFaultException"/> naming <paramref name="quantity"/> if any element is NaN or infinite.</summary>
    /// <param name="quantity">What the values are, for the message.</param>
    /// <param name="step">The environment step whose update produced them.</param>
    /// <param name="update">The learner's update count.</param>
    /// <param name="values">The values to check.</param>
    [<CompiledName("Require")>]
    let require (quantity: string) (step: int64) (update: int64) (values: ReadOnlySpan<float32>) =
        let i = FusedOps.IndexOfNonFinite values
        if i >= 0 then raise (NumericalFaultException(quantity, step, update, i, values.[i]))

    /// <summary>Raises <see cref="NumericalFaultException"/> naming <paramref name="quantity"/> if the value is NaN or infinite.</summary>
    /// <param name="quantity">What the value is, for the message.</param>
    /// <param name="step">The environment step whose update produced it.</param>
    /// <param name="update">The learner's update count.</param>
    /// <param name="value">The value to check.</param>
    [<CompiledName("RequireScalar")>]
    let requireScalar (quantity: string) (step: int64) (update: int64) (value: float32) =
        if not (Single.IsFinite value) then raise (NumericalFaultException(quantity, step, update, -1, value))

    /// <summary>Checks a SAC update's metrics (losses, temperature, entropy, mean Q) in the order it computed them.</summary>
    /// <param name="step">The environment step whose update this was.</param>
    /// <param name="update">The learner's update count after it.</param>
    /// <param name="metrics">The update's metrics.</param>
    [<CompiledName("RequireFiniteSacMetrics")>]
    let sacMetrics (step: int64) (update: int64) (metrics: SacMetrics) =
        requireScalar "policy entropy estimate" step update metrics.Entropy
        requireScalar "temperature loss" step update metrics.AlphaLoss
        requireScalar "alpha" step update metrics.Alpha
        requireScalar "value loss" step update metrics.ValueLoss
        requireScalar "critic loss" step update metrics.CriticLoss
        requireScalar "mean Q" step update metrics.MeanQ
        requireScalar "actor loss" step update metrics.ActorLoss

    /// <summary>
    /// Checks one Soft Q-Learning update in the order it computed things: the Q loss and mean Q(s, a), the Q gradient
    /// and parameters, the SVGD surrogate, the sampler gradient and parameters, then the target Q-network.
    /// </summary>
    /// <param name="step">The environment step whose update this was.</param>
    /// <param name="state">The learner after the update.</param>
    /// <param name="qGradient">The update's Q parameter gradient (its workspace's <c>QParameterGrad</c>).</param>
    /// <param name="samplerGradient">The update's sampler parameter gradient (its workspace's <c>SamplerParameterGrad</c>).</param>
    /// <param name="metrics">The update's metrics (<c>CriticLoss</c> the Q loss, <c>ActorLoss</c> the SVGD surrogate).</param>
    [<CompiledName("RequireFiniteSqlUpdate")>]
    let sqlUpdate (step: int64) (state: SqlLearnerState) (qGradient: float32[]) (samplerGradient: float32[]) (metrics: SqlMetrics) =
        let u = state.Step
        requireScalar "Q loss" step u metrics.QLoss
        requireScalar "mean Q" step u metrics.MeanQ
        require "Q gradient" step u (ReadOnlySpan qGradient)
        require "Q parameters" step u (ReadOnlySpan state.Q)
        requireScalar "SVGD surrogate" step u metrics.SvgdLoss
        require "sampler gradient" step u (ReadOnlySpan samplerGradient)
        require "sampler parameters" step u (ReadOnlySpan state.Sampler)
        require "target Q parameters" step u (ReadOnlySpan state.TargetQ)

    /// <summary>
    /// Checks one SAC update in the order it computed things: the policy's entropy estimate, the temperature loss and
    /// log alpha, the value loss, gradient and parameters (v1), the critic loss, gradient and parameters, the actor
    /// loss, gradient and parameters, then the target networks. Reads the gradients the context still holds.
    /// </summary>
    /// <param name="ctx">The learner's context (it holds the update's gradients).</param>
    /// <param name="step">The environment step whose update this was.</param>
    /// <param name="state">The learner after the update.</param>
    /// <param name="metrics">The update's metrics.</param>
    [<CompiledName("RequireFiniteSacUpdate")>]
    let sacUpdate (ctx: SacContext) (step: int64) (state: LearnerState) (metrics: SacMetrics) =
        let u = state.Step
        requireScalar "policy entropy estimate" step u metrics.Entropy
        requireScalar "temperature loss" step u metrics.AlphaLoss
        requireScalar "log alpha" step u state.LogAlpha
        match state.Value with
        | null -> ()
        | value ->
            requireScalar "value loss" step u metrics.ValueLoss
            require "value gradient" step u (ReadOnlySpan ctx.ValueGradient)
            require "value parameters" step u (ReadOnlySpan value)
        requireScalar "critic loss" step u metrics.CriticLoss
        requireScalar "mean Q" step u metrics.MeanQ
        require "critic gradient" step u (ReadOnlySpan ctx.CriticGradient)
        require "critic parameters" step u (ReadOnlySpan state.Critic)
        requireScalar "actor loss" step u metrics.ActorLoss
        require "actor gradient" step u (ReadOnlySpan ctx.ActorGradient)
        require "actor parameters" step u (ReadOnlySpan state.Actor)
        require "target critic parameters" step u (ReadOnlySpan state.TargetCritic)
        match state.TargetValue with
        | null -> ()
        | target -> require "target value parameters" step u (ReadOnlySpan target)

    /// <summary>
    /// Checks one DQN-family update in the order it computed things: the mean TD target (from the target network), the
    /// TD loss, the mean Q and the Boltzmann entropy, the Q-network's gradient and parameters, then the target network.
    /// Takes the metrics and the gradient as values, so it needs none of the DQN learner's types.
    /// </summary>
    /// <param name="step">The environment step whose update this was.</param>
    /// <param name="state">The learner after the update.</param>
    /// <param name="meanTarget">The update's mean TD target.</param>
    /// <param name="tdLoss">The update's TD loss.</param>
    /// <param name="meanQ">The update's mean Q(s, a).</param>
    /// <param name="entropy">The update's mean Boltzmann entropy (0 outside soft DQN).</param>
    /// <param name="gradient">The Q-network's parameter gradient the update applied.</param>
    [<CompiledName("RequireFiniteDqnUpdate")>]
    let dqnUpdate (step: int64) (state: DqnLearnerState) (meanTarget: float32, tdLoss: float32, meanQ: float32, entropy: float32)
                  (gradient: ReadOnlySpan<float32>) =
        let u = state.Step
        requireScalar "mean TD target" step u meanTarget
        requireScalar "TD loss" step u tdLoss
        requireScalar "mean Q" step u meanQ
        requireScalar "policy entropy" step u entropy
        require "Q-network gradient" step u gradient
        require "Q-network parameters" step u (ReadOnlySpan state.QNetwork)
        require "target Q-network parameters" step u (ReadOnlySpan state.TargetQNetwork)
