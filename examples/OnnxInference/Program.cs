// Drives a Pendulum with a policy exported by `sac export`, using nothing but ONNX Runtime: the model's metadata says
// what it takes and returns, and the pendulum below is Gymnasium's Pendulum-v1, written out here.
//
//   dotnet run --project examples/OnnxInference -- policy.onnx [episodes] [seed]
//
// Prints {"episodes":K,"mean":…,"min":…,"max":…} and exits 0, or 2 for a model that is not a Pendulum policy.
using System.Globalization;
using Microsoft.ML.OnnxRuntime;

if (args.Length < 1)
{
    Console.Error.WriteLine("usage: OnnxInference POLICY.onnx [EPISODES] [SEED]");
    return 2;
}
int episodes = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5;
int seed = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 0;

using var session = new InferenceSession(args[0]);
var meta = session.ModelMetadata.CustomMetadataMap;
string Meta(string key) => meta.TryGetValue(key, out var v) ? v : "?";
Console.Error.WriteLine($"policy {Meta("policy")} of {Meta("algorithm")} on {Meta("environment_id")}, actions in {Meta("action_low")}..{Meta("action_high")}");
Console.Error.WriteLine($"  inputs:  {Meta("inputs")}");
Console.Error.WriteLine($"  outputs: {Meta("outputs")}");
if (Meta("observation_size") != "3" || Meta("action_size") != "1")
{
    Console.Error.WriteLine("OnnxInference: this example drives Pendulum-v1 (3 observations, 1 action); the model takes "
                            + $"{Meta("observation_size")} and emits {Meta("action_size")}.");
    return 2;
}
// A stochastic model also takes noise; zeros would give its mean action, so draw real noise to act stochastically.
bool noisy = session.InputMetadata.ContainsKey("noise");
var rng = new Random(seed);
var returns = new List<double>();
var observation = new float[3];
var noise = new float[1];
using var runOptions = new RunOptions();
for (int episode = 0; episode < episodes; episode++)
{
    var pendulum = new Pendulum(rng);
    double total = 0;
    for (int t = 0; t < Pendulum.Steps; t++)
    {
        pendulum.Observe(observation);
        using var obs = OrtValue.CreateTensorValueFromMemory(observation, new long[] { 1, 3 });
        var names = new List<string> { "observation" };
        var values = new List<OrtValue> { obs };
        OrtValue? eps = null;
        if (noisy)
        {
            noise[0] = (float)Normal(rng);
            eps = OrtValue.CreateTensorValueFromMemory(noise, new long[] { 1, 1 });
            names.Add("noise");
            values.Add(eps);
        }
        using (var results = session.Run(runOptions, names, values, new[] { "action" }))
            total += pendulum.Step(results[0].GetTensorDataAsSpan<float>()[0]);
        eps?.Dispose();
    }
    returns.Add(total);
}
string F(double x) => x.ToString("0.###", CultureInfo.InvariantCulture);
Console.WriteLine($"{{\"episodes\":{episodes},\"mean\":{F(returns.Average())},\"min\":{F(returns.Min())},\"max\":{F(returns.Max())}}}");
return 0;

static double Normal(Random rng) =>
    Math.Sqrt(-2.0 * Math.Log(1.0 - rng.NextDouble())) * Math.Cos(2.0 * Math.PI * rng.NextDouble());

/// <summary>Gymnasium's Pendulum-v1: swing up and balance; reward -(angle^2 + 0.1 speed^2 + 0.001 torque^2).</summary>
sealed class Pendulum
{
    public const int Steps = 200;
    const double MaxSpeed = 8, MaxTorque = 2, Dt = 0.05, G = 10, M = 1, L = 1;
    double _theta, _speed;

    public Pendulum(Random rng)
    {
        _theta = (rng.NextDouble() * 2 - 1) * Math.PI;
        _speed = rng.NextDouble() * 2 - 1;
    }

    public void Observe(float[] observation)
    {
        observation[0] = (float)Math.Cos(_theta);
        observation[1] = (float)Math.Sin(_theta);
        observation[2] = (float)_speed;
    }

    /// <summary>Applies the torque and returns the reward.</summary>
    public double Step(float torque)
    {
        double u = Math.Clamp(torque, -MaxTorque, MaxTorque);
        double angle = ((_theta + Math.PI) % (2 * Math.PI) + 2 * Math.PI) % (2 * Math.PI) - Math.PI;
        double cost = angle * angle + 0.1 * _speed * _speed + 0.001 * u * u;
        _speed = Math.Clamp(_speed + (3 * G / (2 * L) * Math.Sin(_theta) + 3.0 / (M * L * L) * u) * Dt, -MaxSpeed, MaxSpeed);
        _theta += _speed * Dt;
        return -cost;
    }
}
