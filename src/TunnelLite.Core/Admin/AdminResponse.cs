using System.Text;
using System.Text.Json;

namespace TunnelLite.Admin;

/// <summary>One answer of the admin endpoint: status, type and body, plus the few extra headers some need.</summary>
internal sealed record AdminResponse(int Status, string ContentType, byte[] Body)
{
    /// <summary>Extra headers (WWW-Authenticate, Allow, Retry-After...).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = Array.Empty<KeyValuePair<string, string>>();

    /// <summary>Whether the connection must close after this answer (a malformed request: the stream's framing is lost).</summary>
    public bool CloseConnection { get; init; }

    private const string JsonType = "application/json; charset=utf-8";

    /// <summary>A JSON answer, written with the API's serializer settings.</summary>
    public static AdminResponse Json(int status, object value) => new(status, JsonType, JsonSerializer.SerializeToUtf8Bytes(value, AdminJson.Options));

    /// <summary>A JSON error: {"error": "...", "status": N}.</summary>
    public static AdminResponse Error(int status, string message) => Json(status, new { error = message, status });

    /// <summary>A plain-text answer.</summary>
    public static AdminResponse Text(int status, string contentType, string text) => new(status, contentType, Encoding.UTF8.GetBytes(text));

    /// <summary>The reason phrase for the statuses this endpoint uses.</summary>
    public static string ReasonPhrase(int status) => status switch
    {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Status",
    };

    /// <summary>The status line and headers. Every answer carries the same hardening headers: the dashboard loads only
    /// its own files (CSP), nothing is cached (the numbers are live, and an answer may be private), and no page may
    /// frame it.</summary>
    public byte[] Head(bool keepAlive)
    {
        var sb = new StringBuilder(256);
        sb.Append("HTTP/1.1 ").Append(Status).Append(' ').Append(ReasonPhrase(Status)).Append("\r\n");
        sb.Append("Content-Type: ").Append(ContentType).Append("\r\n");
        sb.Append("Content-Length: ").Append(Body.Length).Append("\r\n");
        sb.Append("Content-Security-Policy: default-src 'self'; frame-ancestors 'none'\r\n");
        sb.Append("X-Content-Type-Options: nosniff\r\n");
        sb.Append("X-Frame-Options: DENY\r\n");
        sb.Append("Referrer-Policy: no-referrer\r\n");
        sb.Append("Cache-Control: no-store\r\n");
        foreach (var (name, value) in Headers) sb.Append(name).Append(": ").Append(value).Append("\r\n");
        sb.Append(keepAlive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
        sb.Append("\r\n");
        return Encoding.ASCII.GetBytes(sb.ToString());
    }
}
