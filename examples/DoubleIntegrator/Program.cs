// Your own environment with Sac.Functional: register it, train SAC on it, save, reload and evaluate; the same
// assembly is a plugin for the command line:
//   dotnet run --project examples/DoubleIntegrator -c Release -- [STEPS]
//   sac train --env DoubleIntegrator-v0 --plugin examples/DoubleIntegrator/bin/Release/net10.0/DoubleIntegrator.dll
using DoubleIntegratorExample;
using Sac.Core.Compute;
using Sac.Core.Config;
using Sac.Core.Environments;
using Sac.Core.Runs;
using Sac.Fs;

var steps = args.Length > 0 ? long.Parse(args[0]) : 6000;

// Registered once, the id goes wherever a built-in id goes: trainers, evaluation, config files.
EnvironmentRegistry.Register(DoubleIntegrator.Id, () => new DoubleIntegrator());

var config = new SacConfig
{
    Seed = 3, HiddenSizes = [64, 64], BatchSize = 128, LearningStarts = 500,
    ActorLearningRate = 1e-3f, CriticLearningRate = 1e-3f, AlphaLearningRate = 1e-3f, EvalInterval = 2000, EvalEpisodes = 5,
};
using var gemm = new ManagedGemm(threads: 1);
using var trainer = new Trainer(DoubleIntegrator.Id, config, gemm);

var before = trainer.Evaluate(trainer.Start(), 10, 99);
var outcome = trainer.RunTo(trainer.Start(), steps, []);
var after = trainer.Evaluate(outcome.State, 10, 99);
Console.WriteLine($"{DoubleIntegrator.Id}: untrained {before.Mean:F2} ± {before.Std:F2}, after {steps} steps {after.Mean:F2} ± {after.Std:F2}");

// Save, reload into a fresh trainer, and evaluate the reloaded policy: the same numbers.
var dir = Directory.CreateTempSubdirectory("double-integrator-").FullName;
var file = Path.Combine(dir, "final.ckpt");
trainer.Save(file, outcome.State, steps, includeReplay: false);
using var reloaded = new Trainer(DoubleIntegrator.Id, config, gemm);
var again = reloaded.Evaluate(reloaded.Resume(Checkpoint.LoadTraining(file)), 10, 99);
Console.WriteLine($"reloaded from {Path.GetFileName(file)}: {again.Mean:F2} ± {again.Std:F2}");
Directory.Delete(dir, recursive: true);
if (again.Mean != after.Mean) { Console.Error.WriteLine("the reloaded policy evaluates differently"); return 1; }
// A working controller holds x near 0: far better than doing nothing from the same starts.
if (!(after.Mean > before.Mean)) { Console.Error.WriteLine("training did not improve the policy"); return 1; }
return 0;
