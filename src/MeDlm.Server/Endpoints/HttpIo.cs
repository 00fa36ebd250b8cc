using System.Buffers;
using Microsoft.AspNetCore.Http.Features;

namespace MeDlm.Server.Endpoints;

/// <summary>Reading bounded request bodies and writing OpenAI-shaped errors.</summary>
internal static class HttpIo
{
    /// <summary>The whole body, refused with 413 past <paramref name="maxBytes"/> (checked before and while reading).</summary>
    public static async Task<ReadOnlyMemory<byte>> ReadBodyAsync(HttpRequest request, long maxBytes, CancellationToken ct)
    {
        if (request.ContentLength is long declared && declared > maxBytes)
        {
            throw TooLarge(declared.ToString(System.Globalization.CultureInfo.InvariantCulture), maxBytes);
        }
        // Kestrel enforces the same bound on the stream (also for chunked bodies without a length).
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
        {
            feature.MaxRequestBodySize = maxBytes;
        }
        var buffer = new ArrayBufferWriter<byte>((int)Math.Min(request.ContentLength ?? 4096, maxBytes) + 1);
        try
        {
            while (true)
            {
                Memory<byte> into = buffer.GetMemory(4096);
                int read = await request.Body.ReadAsync(into, ct).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }
                buffer.Advance(read);
                if (buffer.WrittenCount > maxBytes)
                {
                    throw TooLarge("more than " + maxBytes.ToString(System.Globalization.CultureInfo.InvariantCulture), maxBytes);
                }
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge("more than " + maxBytes.ToString(System.Globalization.CultureInfo.InvariantCulture), maxBytes);
        }
        catch (BadHttpRequestException e)
        {
            throw new ApiException(e.StatusCode, "The request body could not be read: " + e.Message, null, "invalid_request_body");
        }
        return buffer.WrittenMemory;
    }

    private static ApiException TooLarge(string size, long maxBytes) => new(StatusCodes.Status413PayloadTooLarge,
        $"The request body is {size} bytes; the limit is {maxBytes} bytes.", null, "request_too_large");

    /// <summary>Writes <paramref name="error"/> as OpenAI's error JSON with its status.</summary>
    public static Task WriteErrorAsync(HttpContext context, ApiException error, int? retryAfterSeconds = null)
    {
        context.Response.StatusCode = error.StatusCode;
        if (retryAfterSeconds is int seconds)
        {
            context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        return context.Response.WriteAsJsonAsync(error.ToBody(), ServerJsonContext.Api.OpenAiErrorResponse, contentType: null, context.RequestAborted);
    }
}
