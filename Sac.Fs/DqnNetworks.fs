namespace Sac.Fs

open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Networks
open Sac.Core.Optim
open Sac.Core.Random

/// <summary>What one DQN-family gradient step reports.</summary>
[<Struct>]
type DqnMetrics =
    { /// <summary>The mean TD loss (Huber or half squared error) over the batch, before the step.</summary>
      TdLoss: float32
      /// <summary>Mean Q(s, a) over the batch's taken actions, before the step.</summary>
      MeanQ: float32
      /// <summary>Mean TD target y over the batch.</summary>
      MeanTarget: float32
      /// <summary>Soft DQN: mean entropy of the Boltzmann policy softmax(Q(s, .) / alpha) over the batch's states; 0 for the others.</summary>
      Entropy: float32 }

/// <summary>How a Q-network picks an action.</summary>
[<Struct>]
type DqnActionMode =
    /// <summary>argmax_a Q(s, a), the first maximiser on ties: the evaluation policy of every variant.</summary>
    | Greedy
    /// <summary>
    /// With probability epsilon a uniformly random action, otherwise greedy (DQN, Double DQN). The coin is the uniform
    /// at <c>index</c> of the key's stream and the random action <c>Philox.UniformInt(key, index, |A|)</c>.
    /// </summary>
    | EpsilonGreedy of epsilon: float32 * key: PhiloxKey * index: uint64
    /// <summary>A draw from softmax(Q(s, .) / temperature) by inverting its CDF at the uniform at <c>index</c> of the key's stream (soft DQN).</summary>
    | Boltzmann of temperature: float32 * key: PhiloxKey * index: uint64

/// <summary>
/// Every buffer one DQN update needs, allocated once for the configured batch size so the update loop allocates
/// nothing. Holds no learner state.
/// </summary>
[<Sealed>]
type DqnWorkspace(spec: MlpSpec, batchSize: int) =
    let floats n = Array.zeroCreate<float32> n

    /// <summary>Rows per update.</summary>
    member _.BatchSize = batchSize
    /// <summary>Online network activations on the batch's observations s (kept for the backward pass).</summary>
    member val OnObs = MlpWorkspace(spec, batchSize)
    /// <summary>Online network on the next observations s' (Double DQN's action selection).</summary>
    member val OnlineOnNext = MlpWorkspace(spec, batchSize)
    /// <summary>Target network on the next observations s'.</summary>
    member val TargetOnNext = MlpWorkspace(spec, batchSize)
    /// <summary>TD targets y.</summary>
    member val Targets = floats batchSize
    /// <summary>dL/dQ(s, .), nonzero only in the taken action's column.</summary>
    member val OutputGrad = floats (batchSize * spec.OutputSize)
    /// <summary>The factor on every learning rate that the next update's optimizer steps use, staged by
    /// <c>updateWith</c> (a schedule's, in [0, 1]; 1 by default).</summary>
    member val LearningRateFactor = 1.0f with get, set
    /// <summary>Parameter gradient of the online network.</summary>
    member val ParameterGrad = floats spec.ParameterCount

/// <summary>
/// A DQN-family learner's fixed parts: the validated configuration, the Q-network shape
/// <c>[observation, hidden..., |A|]</c> (hidden layers with <c>config.Activation</c>, ReLU by default; linear output), the Adam settings, the GEMM provider and the
/// preallocated workspace. Everything that changes lives in <see cref="DqnLearnerState"/>.
/// </summary>
[<Sealed>]
type DqnContext(config: DqnConfig, observationSize: int, actionCount: int, gemm: IGemm) =
    do
        config.ThrowIfInvalid() |> ignore
        if observationSize < 1 then invalidArg (nameof observationSize) $"observationSize must be at least 1, got {observationSize}."
        if actionCount < 1 then invalidArg (nameof actionCount) $"actionCount must be at least 1, got {actionCount}."
    let spec = MlpSpec(Array.concat [ [| observationSize |]; Seq.toArray config.HiddenSizes; [| actionCount |] ], config.Activation, Activation.Identity)

    /// <summary>The configuration.</summary>
    member _.Config = config
    /// <summary>Observation length |S|.</summary>
    member _.ObservationSize = observationSize
    /// <summary>Number of actions |A|, the network's outputs.</summary>
    member _.ActionCount = actionCount
    /// <summary>The Q-network shape.</summary>
    member _.Spec = spec
    /// <summary>The GEMM every network pass uses.</summary>
    member _.Gemm = gemm
    /// <summary>Adam settings: the learning rate, PyTorch's betas and epsilon, gradient-norm clipping at MaxGradNorm.</summary>
    member val Adam = AdamConfig(config.LearningRate, 0.9f, 0.999f, 1e-8f, config.MaxGradNorm)
    /// <summary>Scratch buffers for one update.</summary>
    member val Workspace = DqnWorkspace(spec, config.BatchSize)
