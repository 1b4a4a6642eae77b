using System;
using Sac.Cuda.Driver;

namespace Sac.Cuda.Backend;

/// <summary>
/// Captures runs of a stream's work into CUDA graphs and launches each as one: <see cref="BeginIfEnabled"/> before
/// device work begins a capture (<c>cuStreamBeginCapture_v2</c>, thread-local mode) unless one is in progress;
/// <see cref="End"/> before anything that involves the host ends it and launches the graph, updating the instantiated
/// graph in place (<c>cuGraphExecUpdate_v2</c>) where the shape is unchanged, else instantiating it afresh
/// (<c>cuGraphInstantiateWithFlags</c>). The first run after enabling runs uncaptured. Not thread-safe.
/// </summary>
internal sealed unsafe class StreamGraphCapture
{
    readonly CudaContext _context;
    readonly CudaStream _stream;
    bool _enabled, _capturing, _eagerRun;
    int _eagerRunsLeft;
    nint _exec;
    long _captures, _instantiations, _updates, _launches;

    public StreamGraphCapture(CudaContext context, CudaStream stream)
    {
        _context = context;
        _stream = stream;
    }

    /// <summary>The first graph entry point the driver lacks, or null.</summary>
    public string? MissingExport => _context.Driver.Api.MissingGraphExport;

    public bool Enabled
    {
        get => _enabled;
        set
        {
            if (value == _enabled) return;
            End(launch: true);
            if (!value) DestroyExec();
            _eagerRunsLeft = value ? 1 : 0;
            _enabled = value;
        }
    }

    public CudaGraphCounts Counts => new(_captures, _instantiations, _updates, _launches);

    /// <summary>Before device work: begins a capture if enabled and none is in progress (or the run is the eager one).</summary>
    public void BeginIfEnabled()
    {
        if (!_enabled || _capturing || _eagerRun) return;
        if (_eagerRunsLeft > 0)
        {
            // cuBLAS sets itself up (workspace, kernel choice) on first use: let that happen outside a capture.
            _eagerRunsLeft--;
            _eagerRun = true;
            return;
        }
        var driver = _context.Driver;
        driver.Check(driver.Api.cuStreamBeginCapture_v2(_stream.Handle, DriverApi.CaptureModeThreadLocal), "cuStreamBeginCapture_v2");
        _capturing = true;
        _captures++;
    }

    /// <summary>Ends a capture in progress and, with <paramref name="launch"/>, launches it on the stream.</summary>
    public void End(bool launch)
    {
        _eagerRun = false;
        if (!_capturing) return;
        _capturing = false;
        var driver = _context.Driver;
        var api = driver.Api;
        nint graph;
        driver.Check(api.cuStreamEndCapture(_stream.Handle, &graph), "cuStreamEndCapture");
        try
        {
            if (!launch) return;
            if (_exec != 0)
            {
                GraphExecUpdateResultInfo info;
                int status = api.cuGraphExecUpdate_v2(_exec, graph, &info);
                if (status == 0) _updates++;
                else if (status == DriverApi.ErrorGraphExecUpdateFailure) DestroyExec();   // another shape
                else driver.Check(status, "cuGraphExecUpdate_v2");
            }
            if (_exec == 0)
            {
                nint exec;
                driver.Check(api.cuGraphInstantiateWithFlags(&exec, graph, 0), "cuGraphInstantiateWithFlags");
                _exec = exec;
                _instantiations++;
            }
            driver.Check(api.cuGraphLaunch(_exec, _stream.Handle), "cuGraphLaunch");
            _launches++;
        }
        finally
        {
            // The captured graph is dropped either way; a failure to free it is not worth masking another for.
            api.cuGraphDestroy(graph);
        }
    }

    /// <summary>Releases the instantiated graph, if any.</summary>
    public void DestroyExec()
    {
        if (_exec == 0) return;
        nint exec = _exec;
        _exec = 0;
        _context.Driver.Check(_context.Driver.Api.cuGraphExecDestroy(exec), "cuGraphExecDestroy");
    }
}

/// <summary>How often a <see cref="CudaBackend"/> with <see cref="CudaBackend.CaptureGraphs"/> captured, instantiated,
/// updated and launched CUDA graphs.</summary>
/// <param name="Captures">Stream captures begun.</param>
/// <param name="Instantiations">Graphs instantiated (the first capture, and each whose shape differed from the last).</param>
/// <param name="Updates">Captures applied to the instantiated graph in place.</param>
/// <param name="Launches">Graph launches.</param>
public readonly record struct CudaGraphCounts(long Captures, long Instantiations, long Updates, long Launches);
