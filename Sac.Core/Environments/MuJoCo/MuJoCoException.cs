using System;

namespace Sac.Core.Environments.MuJoCo;

/// <summary>Something went wrong in or around the MuJoCo library; the message says what and where.</summary>
public class MuJoCoException : Exception
{
    /// <summary>Creates the exception with its message.</summary>
    /// <param name="message">What went wrong, naming the environment, model or step.</param>
    public MuJoCoException(string message) : base(message) { }
}

/// <summary>
/// MuJoCo 2.2.2 cannot be used in this process: the library is not installed, is another version, or the library's
/// own shim (<c>libsac_mujoco.so</c>) is missing. <see cref="Exception.Message"/> is one line ending with the install
/// command.
/// </summary>
public sealed class MuJoCoUnavailableException : MuJoCoException
{
    /// <summary>Creates the exception from the reason MuJoCo is unavailable.</summary>
    /// <param name="reason">Why, e.g. <c>"libmujoco.so.2.2.2: cannot open shared object file"</c>.</param>
    public MuJoCoUnavailableException(string reason)
        : base($"MuJoCo 2.2.2 is not available ({reason}); install it with: {MuJoCoRuntime.InstallCommand}") => Reason = reason;

    /// <summary>Why MuJoCo is unavailable, without the install hint.</summary>
    public string Reason { get; }
}

/// <summary>An MJCF model could not be loaded or compiled: a missing or malformed file, or an error from the compiler.</summary>
public sealed class MuJoCoModelException : MuJoCoException
{
    /// <summary>Creates the exception for one model.</summary>
    /// <param name="model">The model's file path or built-in name.</param>
    /// <param name="detail">MuJoCo's message (parser or compiler).</param>
    public MuJoCoModelException(string model, string detail) : base($"MuJoCo model {model}: {OneLine(detail)}")
    {
        Model = model;
        Detail = detail;
    }

    // MuJoCo's compiler messages span lines ("Error: ...\nObject name = ..., line = 3"); a message here is one line.
    static string OneLine(string text) =>
        string.Join("; ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>The model's file path or built-in name.</summary>
    public string Model { get; }

    /// <summary>MuJoCo's own message.</summary>
    public string Detail { get; }
}

/// <summary>
/// The simulation failed during a step or reset: MuJoCo raised an error, or it raised a warning that means the state
/// went bad (a NaN or infinity in qpos, qvel, qacc or ctrl, after which MuJoCo silently resets the state). The
/// environment must be reset before it steps again.
/// </summary>
/// <remarks>The message names the environment and its step, e.g. <c>HalfCheetah-v4, step 17: MuJoCo warning BADQACC (bad number in qacc) at dof 3</c>.</remarks>
public sealed class MuJoCoSimulationException : MuJoCoException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="environmentId">The environment (or model) that was stepping.</param>
    /// <param name="step">Steps since the last reset, counting the failed one (0: during the reset).</param>
    /// <param name="problem">What MuJoCo reported, e.g. <c>"MuJoCo warning BADQACC (bad number in qacc) at dof 3"</c>.</param>
    public MuJoCoSimulationException(string environmentId, long step, string problem)
        : base($"{environmentId}, step {step}: {problem}")
    {
        EnvironmentId = environmentId;
        Step = step;
        Problem = problem;
    }

    /// <summary>The environment (or model) that was stepping.</summary>
    public string EnvironmentId { get; }

    /// <summary>Steps since the last reset, counting the failed one; 0 when the reset itself failed.</summary>
    public long Step { get; }

    /// <summary>What MuJoCo reported.</summary>
    public string Problem { get; }
}
