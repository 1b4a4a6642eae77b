using Microsoft.Extensions.Logging;
using Orleans.Placement;
using Orleans.Runtime;

namespace Sac.Sweeps;

/// <summary>
/// The grain of one run. Orleans places it by activation count, so runs spread over the silos; the silo's
/// <see cref="RunSlots"/> cap how many train there at once (a full silo declines the run, which is then placed again).
/// Training runs on a thread of its own; a keep-alive timer holds the activation for as long as it trains.
/// </summary>
[ActivationCountBasedPlacement]
public sealed class RunGrain(IRunExecutor executor, RunSlots slots, ILocalSiloDetails silo, ILogger<RunGrain> log) : Grain, IRunGrain
{
    private readonly object _gate = new();
    private RunStatus? _status;
    private Task? _training;
    private IGrainTimer? _keepAlive;

    private string SiloName => silo.SiloAddress.Endpoint.ToString();

    /// <inheritdoc />
    public Task<RunStatus> Ensure(RunOrder order)
    {
        lock (_gate)
        {
            if (_training is { IsCompleted: false } || _status is { IsFinished: true }) return Task.FromResult(_status!);
        }
        var stored = RunStatusFile.Read(order.StatusPath, order.RunId);
        if (stored.IsFinished) return Task.FromResult(Remember(stored));
        if (stored.Attempts >= order.MaxAttempts)
            return Task.FromResult(Publish(order, stored with
            {
                State = RunState.Failed, UpdatedUtc = DateTime.UtcNow,
                Message = $"started {stored.Attempts} times without finishing (its silo was lost each time); not started again",
            }));
        if (!slots.TryTake())
        {
            // Declining lets Orleans place the run again, on a silo with room if there is one.
            DeactivateOnIdle();
            return Task.FromResult(stored with { State = RunState.Waiting, Silo = SiloName, UpdatedUtc = DateTime.UtcNow, Message = "waiting for a free run slot" });
        }
        var running = Publish(order, stored with
        {
            State = RunState.Running, Silo = SiloName, Attempts = stored.Attempts + 1, UpdatedUtc = DateTime.UtcNow,
            Message = stored.Attempts == 0 ? "started" : "starting again",
        });
        _keepAlive ??= this.RegisterGrainTimer(ReleaseWhenDone, new GrainTimerCreationOptions(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5)) { KeepAlive = true });
        lock (_gate)
            _training = Task.Factory.StartNew(() => Train(order, running), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        return Task.FromResult(running);
    }

    private void Train(RunOrder order, RunStatus running)
    {
        RunStatus end;
        try
        {
            var evaluation = executor.Execute(order, note => Publish(order, running with { Message = note, UpdatedUtc = DateTime.UtcNow }));
            end = running with
            {
                State = RunState.Done, FinalMean = evaluation.Mean, FinalStd = evaluation.Std, UpdatedUtc = DateTime.UtcNow,
                Message = $"done; final evaluation {evaluation.Mean:G6} ± {evaluation.Std:G6}",
            };
        }
        catch (RunInterruptedException e)
        {
            end = running with { State = RunState.Pending, Message = e.Message, UpdatedUtc = DateTime.UtcNow };
        }
        catch (Exception e)
        {
            log.LogWarning(e, "run {Run} failed", order.RunId);
            end = running with { State = RunState.Failed, Message = e.Message, UpdatedUtc = DateTime.UtcNow };
        }
        finally
        {
            slots.Release();
        }
        Publish(order, end);
    }

    private RunStatus Remember(RunStatus status)
    {
        lock (_gate) _status = status;
        return status;
    }

    private RunStatus Publish(RunOrder order, RunStatus status)
    {
        lock (_gate)
        {
            _status = status;
            RunStatusFile.Write(order.StatusPath, status);
        }
        return status;
    }

    private Task ReleaseWhenDone(CancellationToken cancellation)
    {
        // Once training is over the activation may go idle and be collected like any other.
        if (_training is { IsCompleted: true })
        {
            _keepAlive?.Dispose();
            _keepAlive = null;
        }
        return Task.CompletedTask;
    }
}
