// Sac.Functional from C#: train SAC briefly, watch its evaluations, save a checkpoint and evaluate it again.
// Usage: dotnet run --project examples/CSharpQuickstart -c Release -- [ENV] [STEPS]
using Sac.Core.Compute;
using Sac.Core.Config;
using Sac.Core.Runs;
using Sac.Fs;

var env = args.Length > 0 ? args[0] : "PointGoal-v0";
var steps = args.Length > 1 ? long.Parse(args[1]) : 4000;

// Start from the environment's preset and change what you like with a `with` expression (validated on assignment).
var config = Presets.ForEnvironment(env) with { Seed = 7, EvalInterval = 1000 };

using var gemm = new ManagedGemm(threads: 1);
var trainer = new Trainer(env, config, gemm);
var state = trainer.Run(trainer.Start(), steps, record =>
{
    // Options are null when absent, so C#'s ?. reads them.
    if (record.EvalReturn?.Value is double mean)
        Console.WriteLine($"step {record.Step,6}: evaluation {mean,8:F2} ± {record.EvalStd!.Value:F2}");
});

var path = Path.Combine(Path.GetTempPath(), $"quickstart-{env}.ckpt");
var header = new CheckpointHeader("sac", env, trainer.Context.Networks.ObservationSize,
    trainer.Context.Networks.ActionSize, config.HiddenSizes, config.Variant.ToString(), state.EnvSteps);
Checkpoint.Save(path, header, state.Learner);

var (_, restored, _) = Checkpoint.Load(path);
var result = Evaluation.Run(trainer.Context, trainer.PolicyWorkspace, restored.Actor, trainer.EvaluationEnvironment, 10, 123);
Console.WriteLine($"restored from {path}: mean return {result.Mean:F2} ± {result.Std:F2} over 10 episodes");
