namespace Sac.Fs

open System
open Sac.Core.Environments

/// <summary>
/// The running episode's actions. A training checkpoint stores them so that a resumed run can rebuild the
/// environment's state by resetting it as often as the saved run did and replaying them: every registered environment
/// is deterministic given its reset seed, so no environment needs a save/restore of its own.
/// </summary>
[<Sealed>]
type EpisodeTape(actionSize: int, expectedSteps: int) =
    do
        Guard.size "actionSize" actionSize
        Guard.size "expectedSteps" expectedSteps
    let mutable data = Array.zeroCreate<float32> (expectedSteps * actionSize)
    let mutable length = 0

    /// <summary>A tape sized for one episode of <paramref name="env"/> (its step limit, or 1000 steps without one).</summary>
    /// <param name="env">The environment whose actions it records.</param>
    static member For(env: IEnvironment) =
        EpisodeTape(env.ActionSpace.Dimension, (match env.MaxEpisodeSteps |> Option.ofNullable with Some n -> n | None -> 1000))

    /// <summary>The recorded actions, <c>steps x actionSize</c> row-major.</summary>
    member _.Actions = ReadOnlyMemory<float32>(data, 0, length)

    /// <summary>Appends one step's action (grows past the expected episode length only if an episode runs longer).</summary>
    /// <param name="action">The action taken, <c>actionSize</c> elements.</param>
    member _.Record(action: ReadOnlySpan<float32>) =
        if length + actionSize > data.Length then Array.Resize(&data, 2 * data.Length)
        action.Slice(0, actionSize).CopyTo(Span<float32>(data, length, actionSize))
        length <- length + actionSize

    /// <summary>Forgets the recorded actions (at an episode's end).</summary>
    member _.Clear() = length <- 0

    /// <summary>
    /// Brings <paramref name="env"/> to where a saved run was: reset with <paramref name="seed"/>, reset once more per
    /// finished episode, then the running episode's <paramref name="actions"/> replayed (and recorded on this tape).
    /// Leaves the current observation in <paramref name="observation"/>.
    /// </summary>
    /// <param name="env">The training environment, as the saved run built it.</param>
    /// <param name="seed">The seed of the run's first reset.</param>
    /// <param name="episodes">Episodes the saved run finished.</param>
    /// <param name="actions">The running episode's actions, <c>steps x actionSize</c>.</param>
    /// <param name="expectedReturn">The running episode's return the saved run recorded.</param>
    /// <param name="observation">Receives the current observation.</param>
    /// <exception cref="T:System.ArgumentException">Replaying ends the episode early or gives another return than the
    /// saved run recorded (an environment that is not deterministic, or actions that are not this run's).</exception>
    member this.Rebuild(env: IEnvironment, seed: uint64, episodes: int, actions: float32[], expectedReturn: float, observation: float32[]) =
        if actions.Length % actionSize <> 0 then Resuming.fail $"it stores {actions.Length} action values, not a whole number of {actionSize}-value actions"
        let steps = actions.Length / actionSize
        env.Reset(Nullable seed, Span observation)
        for _ in 1 .. episodes do env.Reset(Nullable(), Span observation)
        this.Clear()
        let mutable total = 0.0
        for i in 0 .. steps - 1 do
            let action = ReadOnlySpan(actions, i * actionSize, actionSize)
            let r = env.Step(action, Span observation)
            this.Record action
            total <- total + float r.Reward
            if r.Terminated || r.Truncated then Resuming.fail $"replaying the running episode ended it at step {i + 1} of {steps}"
        if total <> expectedReturn then
            Resuming.fail $"replaying the running episode gave return {total:R}, the checkpoint recorded {expectedReturn:R}"
