// Sac.Functional from C#: train SAC briefly with callbacks, checkpoint and resume, then evaluate the restored policy.
// Usage: dotnet run --project examples/CSharpQuickstart -c Release -- [ENV] [STEPS]
using Sac.Core.Compute;
using Sac.Core.Runs;
using Sac.Fs;
// The state a SAC run folds over: the generic engine's state with SAC's learner and metrics.
using TrainingState = Sac.Fs.OffPolicyState<Sac.Core.Data.LearnerState, Sac.Fs.SacMetrics>;

var env = args.Length > 0 ? args[0] : "PointGoal-v0";
var steps = args.Length > 1 ? long.Parse(args[1]) : 4000;
var dir = Directory.CreateTempSubdirectory("quickstart-").FullName;
var checkpoint = Path.Combine(dir, "checkpoint.ckpt");

// Start from the environment's preset and change what you like with a `with` expression (validated on assignment).
var config = Presets.ForEnvironment(env) with { Seed = 7, EvalInterval = 1000 };

using var gemm = new ManagedGemm(threads: 1);
using var trainer = new Trainer(env, config, gemm);

// Callbacks: IProgress<T> for evaluations, a delegate for episode ends, a checkpoint every half run, and a stop
// at a reward threshold (PointGoal's straight-line policy scores about -1.5).
var evaluations = new Printer();
var episodes = 0;
ITrainingCallback<TrainingState>[] callbacks =
[
    Callback.OnProgress<TrainingState>(evaluations),
    Callback.OnRecord<TrainingState>(record => { if (record.EpisodeReturn is not null) episodes++; }),
    trainer.CheckpointEvery(steps / 2, checkpoint, steps, includeReplay: true),
    Callback.StopAtEvalReturn<TrainingState>(-2.0),
];
var outcome = trainer.RunTo(trainer.Start(), steps / 2, callbacks);
Console.WriteLine($"first half: {outcome.State.EnvSteps} steps, {episodes} episodes");

// Resume from the checkpoint in a fresh trainer, as after a crash: the run continues exactly where it was.
using var resumed = new Trainer(env, config, gemm);
var state = resumed.Resume(Checkpoint.LoadTraining(checkpoint));
outcome = resumed.RunTo(state, steps, [Callback.OnProgress<TrainingState>(evaluations), Callback.StopAtEvalReturn<TrainingState>(-2.0)]);
if (outcome.StopReason is not null) Console.WriteLine($"stopped early: {outcome.StopReason.Value}");

var result = resumed.Evaluate(outcome.State, 10, 123);
Console.WriteLine($"after {outcome.State.EnvSteps} steps: mean return {result.Mean:F2} ± {result.Std:F2} over 10 episodes");
Directory.Delete(dir, recursive: true);

/// <summary>Prints each evaluation as it happens (synchronously, unlike Progress&lt;T&gt;, which posts to the thread pool).</summary>
sealed class Printer : IProgress<TrainingRecord>
{
    public void Report(TrainingRecord record)
    {
        // F# options are null when absent, so C#'s ?. reads them.
        if (record.EvalReturn?.Value is double mean)
            Console.WriteLine($"step {record.Step,6}: evaluation {mean,8:F2} ± {record.EvalStd!.Value:F2}");
    }
}
