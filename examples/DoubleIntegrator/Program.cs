// Your own environment with Sac.Functional's agent API: create, learn, save, load from the file alone, predict and
// evaluate. The same assembly is a plugin for the command line:
//   dotnet run --project examples/DoubleIntegrator -c Release -- [STEPS]
//   sac train --env DoubleIntegrator-v0 --plugin examples/DoubleIntegrator/bin/Release/net10.0/DoubleIntegrator.dll
using DoubleIntegratorExample;
using Sac.Core.Config;
using Sac.Core.Environments;
using Sac.Fs;

var steps = args.Length > 0 ? long.Parse(args[0]) : 6000;

var config = new SacConfig
{
    Seed = 3, HiddenSizes = [64, 64], BatchSize = 128, LearningStarts = 500,
    ActorLearningRate = 1e-3f, CriticLearningRate = 1e-3f, AlphaLearningRate = 1e-3f, EvalInterval = 0,
};

// The factory makes a fresh environment per call; the agent registers it under its Id ("DoubleIntegrator-v0").
using var agent = SacAgent.Create(() => new DoubleIntegrator(), config);
var before = agent.Evaluate(10, 99);
agent.Learn(steps);
var after = agent.Evaluate(10, 99);
Console.WriteLine($"{agent.EnvironmentId}: untrained {before.Mean:F2} ± {before.Std:F2}, after {agent.Steps} steps {after.Mean:F2} ± {after.Std:F2}");

// Save, then load from the file alone (it holds the configuration, the environment id and the sizes).
var dir = Directory.CreateTempSubdirectory("double-integrator-").FullName;
var file = Path.Combine(dir, "agent.ckpt");
agent.Save(file);
using var loaded = SacAgent.Load(file);
var again = loaded.Evaluate(new TimeLimit(new DoubleIntegrator(), 200), 10, 99);
Console.WriteLine($"loaded from {Path.GetFileName(file)}: {again.Mean:F2} ± {again.Std:F2}");

// Predict: the force for a state (x = 1, v = 0) pushes back toward 0; a stochastic draw is repeatable by seed.
float[] force = loaded.Predict([1f, 0f]);
float[] draw = loaded.Predict([1f, 0f], deterministic: false, seed: 5);
Console.WriteLine($"at x = 1, v = 0: force {force[0]:F3} (a seeded draw: {draw[0]:F3})");
Directory.Delete(dir, recursive: true);

if (again.Mean != after.Mean) { Console.Error.WriteLine("the loaded agent evaluates differently"); return 1; }
if (!(after.Mean > before.Mean)) { Console.Error.WriteLine("training did not improve the policy"); return 1; }
if (!(force[0] < 0)) { Console.Error.WriteLine("the trained policy does not push back toward 0"); return 1; }
return 0;
