using MeDlm.Kernels;

namespace MeDlm.Decoding;

/// <summary>Receives what each pass did to each row (streaming). Spans are valid only during the call.</summary>
internal interface IDecodeObserver
{
    /// <summary>A stage-1 pass committed <paramref name="positions"/> (absolute, ascending) of the row.</summary>
    void OnUnmask(RowState row, ReadOnlySpan<int> positions);

    /// <summary>The between-stages transform ran; <paramref name="before"/> is the response before it.</summary>
    void OnTransition(RowState row, ReadOnlySpan<long> before);

    /// <summary>
    /// An edit round ran on the row. <paramref name="before"/> is the whole row before it, cur/nxt the
    /// proposals (valid from the prompt length on); <paramref name="counts"/> says what was applied.
    /// </summary>
    void OnEdit(RowState row, ReadOnlySpan<long> before, ReadOnlySpan<int> cur, ReadOnlySpan<int> nxt, in EditCounts counts);
}
