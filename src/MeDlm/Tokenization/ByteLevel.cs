namespace MeDlm.Tokenization;

/// <summary>
/// The reversible byte to printable character table of byte-level BPE (GPT-2): printable Latin-1 bytes map
/// to themselves, the other 68 bytes to U+0100 onwards in byte order.
/// </summary>
internal static class ByteLevel
{
    /// <summary>Byte value to its symbol character.</summary>
    public static readonly char[] ByteToChar = BuildByteToChar();

    // Symbols are all below U+0144, so a flat table replaces a dictionary lookup when decoding.
    private static readonly short[] CharToByteTable = BuildCharToByte();

    /// <summary>The byte a symbol character stands for, or -1 when the character is not a byte symbol.</summary>
    public static int CharToByte(char c) => c < CharToByteTable.Length ? CharToByteTable[c] : -1;

    private static bool IsKept(int b) => (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);

    private static char[] BuildByteToChar()
    {
        var table = new char[256];
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            table[b] = IsKept(b) ? (char)b : (char)(256 + extra++);
        }

        return table;
    }

    private static short[] BuildCharToByte()
    {
        var table = new short[256 + 68];
        Array.Fill(table, (short)-1);
        var forward = BuildByteToChar();
        for (int b = 0; b < 256; b++)
        {
            table[forward[b]] = (short)b;
        }

        return table;
    }
}
