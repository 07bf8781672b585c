namespace TunnelLite.Server;

/// <summary>Clients the operator disconnected and keeps out for a while (Disconnect-TunnelClient -BanSeconds, DELETE
/// /api/v1/clients/{id}). A client with an account is banned by its account; one of the shared token by its client id,
/// which it keeps across reconnects (a new process gets a new id: only an account names a tenant for sure). Bounded and
/// expiring, checked only after a login proved its token, so a stranger can neither fill nor probe it.</summary>
internal sealed class ClientBans
{
    /// <summary>Bans kept at most; the one that ends first makes room.</summary>
    public const int MaxBans = 4096;
    private readonly Dictionary<string, long> _until = new(StringComparer.Ordinal);
    private readonly Func<long> _nowMs;

    public ClientBans(Func<long>? nowMs = null) => _nowMs = nowMs ?? (() => Environment.TickCount64);

    /// <summary>Bans in force now.</summary>
    public int Count { get { lock (_until) { Purge(_nowMs()); return _until.Count; } } }

    /// <summary>Keeps the account (or, without one, the client id) out for <paramref name="duration"/>.</summary>
    public void Ban(string? account, string clientId, TimeSpan duration)
    {
        if (duration <= TimeSpan.Zero) return;
        var now = _nowMs();
        lock (_until)
        {
            Purge(now);
            var key = Key(account, clientId);
            if (!_until.ContainsKey(key) && _until.Count >= MaxBans)
                _until.Remove(_until.MinBy(b => b.Value).Key);
            _until[key] = now + (long)duration.TotalMilliseconds;
        }
    }

    /// <summary>How long the account or client id is still banned; zero when it is not.</summary>
    public TimeSpan Remaining(string? account, string clientId)
    {
        var now = _nowMs();
        lock (_until)
        {
            return _until.TryGetValue(Key(account, clientId), out var until) && until > now
                ? TimeSpan.FromMilliseconds(until - now)
                : TimeSpan.Zero;
        }
    }

    private static string Key(string? account, string clientId) => account is not null ? "account:" + account : "id:" + clientId;

    private void Purge(long now)
    {
        foreach (var gone in _until.Where(b => b.Value <= now).Select(b => b.Key).ToList()) _until.Remove(gone);
    }
}
