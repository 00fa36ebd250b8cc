using System.Net.Sockets;

namespace MeDlm.Server.Tests.Infrastructure;

/// <summary>
/// A bare HTTP/1.1 client on a socket, for a client that vanishes: <see cref="Vanish"/> resets the
/// connection the way a killed process does (HttpClient would instead try to drain the response).
/// </summary>
public sealed class RawHttpClient : IDisposable
{
    private readonly TcpClient _tcp = new();
    private NetworkStream? _stream;
    private StreamReader? _reader;

    /// <summary>Connects and sends a POST with a JSON body.</summary>
    public async Task PostAsync(Uri baseAddress, string path, string json)
    {
        await _tcp.ConnectAsync(baseAddress.Host, baseAddress.Port);
        _stream = _tcp.GetStream();
        byte[] body = Encoding.UTF8.GetBytes(json);
        string head = $"POST /{path} HTTP/1.1\r\nHost: {baseAddress.Host}:{baseAddress.Port}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n";
        await _stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        await _stream.WriteAsync(body);
        await _stream.FlushAsync();
        _reader = new StreamReader(_stream, Encoding.UTF8);
    }

    /// <summary>Reads lines until one starts with <paramref name="prefix"/>; returns it.</summary>
    public async Task<string> ReadLineStartingWithAsync(string prefix, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (await _reader!.ReadLineAsync(cts.Token) is { } line)
        {
            // Chunked framing puts the size on its own line; the payload line follows.
            if (line.StartsWith(prefix, StringComparison.Ordinal))
            {
                return line;
            }
        }
        throw new EndOfStreamException("The server closed the connection before a line starting with " + prefix);
    }

    /// <summary>Drops the connection at once with a reset.</summary>
    public void Vanish()
    {
        _tcp.Client.LingerState = new LingerOption(true, 0);
        _tcp.Client.Shutdown(SocketShutdown.Both);
        _tcp.Client.Close();
    }

    /// <summary>Closes the socket.</summary>
    public void Dispose()
    {
        _reader?.Dispose();
        _tcp.Dispose();
    }
}
