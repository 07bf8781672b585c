namespace TunnelLite.PowerShell.Internal;

/// <summary>Runs an engine call from a cmdlet's synchronous pipeline thread, cancellable by Ctrl+C (StopProcessing).</summary>
internal sealed class EngineCall : IDisposable
{
    private readonly CancellationTokenSource _cts = new();

    public CancellationToken Token => _cts.Token;

    public void Cancel() => _cts.Cancel();

    public T Run<T>(Func<CancellationToken, Task<T>> call) => call(_cts.Token).GetAwaiter().GetResult();

    public void Run(Func<CancellationToken, Task> call) => call(_cts.Token).GetAwaiter().GetResult();

    public void Dispose() => _cts.Dispose();
}
