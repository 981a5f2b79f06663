using System.Text;
using System.Text.Json.Nodes;

namespace CudaI2V.Tests.Fuzz;

/// <summary>
/// Mutates JSON documents as a hostile file would: a value anywhere in the tree replaced by another kind or an
/// extreme number, a key removed or added, and then, on the bytes, invalid UTF-8, lone surrogate escapes,
/// truncation, deep nesting and out-of-range number literals. Each mutation returns a short description for the report.
/// </summary>
public static class JsonMutator
{
    /// <summary>Values of every kind and extreme numbers, as JSON text.</summary>
    public static IReadOnlyList<string> HostileValues { get; } =
    [
        "0", "-1", "1", "2", "3", "7", "8", "77", "224", "1000", "2147483647", "-2147483648", "2147483648", "9223372036854775807",
        "18446744073709551616", "1e308", "-1e308", "1e-308", "0.5", "-0.0", "1.5", "1e999", "4294967296", "16777217",
        "\"\"", "\"x\"", "\"3\"", "\"F32\"", "\"I32\"", "\"silu\"", "\"gelu\"", "null", "true", "false",
        "[]", "{}", "[1]", "[0, 0]", "[-1, 5]", "[\"a\"]", "[[1]]", "[null]", "{\"height\": \"32\", \"width\": 32}",
        "{\"height\": 0, \"width\": 0}", "{\"shortest_edge\": null}", "{\"content\": 5}", "[2147483647, 2147483647]",
    ];

    /// <summary>Applies one tree mutation (or none), then maybe one byte mutation; returns the bytes and what was done.</summary>
    public static (byte[] Bytes, string What) Mutate(string json, FuzzRandom random, IReadOnlyList<string> extraKeys)
    {
        var what = new StringBuilder();
        var text = json;
        var node = JsonNode.Parse(json);
        if (node is not null && random.Chance(0.85))
        {
            text = MutateTree(node, random, extraKeys, what);
        }

        var bytes = Encoding.UTF8.GetBytes(text);
        if (random.Chance(0.3) || what.Length == 0)
        {
            bytes = MutateBytes(bytes, random, what);
        }

        return (bytes, what.ToString());
    }

    private static string MutateTree(JsonNode root, FuzzRandom random, IReadOnlyList<string> extraKeys, StringBuilder what)
    {
        var nodes = new List<JsonNode>();
        Collect(root, nodes);
        var target = random.Pick(nodes);
        var value = random.Pick(HostileValues);
        switch (random.Next(4))
        {
            case 0 when target is JsonObject obj && extraKeys.Count > 0:
                var key = random.Pick(extraKeys);
                obj[key] = JsonNode.Parse(value);
                what.Append($"set {target.GetPath()}.{key} = {value}");
                break;
            case 1 when target.Parent is JsonObject parent:
                var name = target.GetPropertyName();
                parent.Remove(name);
                what.Append($"removed {target.GetPath()}");
                break;
            case 2 when target.GetValueKind() == System.Text.Json.JsonValueKind.Number:
                var number = target.GetValue<double>();
                var near = random.Pick(new[] { 0, -number, number * 2, number + 1, number - 1, number * 1e6, number / 3 });
                near = double.IsFinite(near) ? near : 0;
                Replace(target, JsonValue.Create(near), what, near.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
                break;
            default:
                if (target.Parent is null)
                {
                    return value;
                }

                Replace(target, JsonNode.Parse(value), what, value);
                break;
        }

        return root.ToJsonString();
    }

    private static void Replace(JsonNode target, JsonNode? with, StringBuilder what, string text)
    {
        var path = target.GetPath();
        switch (target.Parent)
        {
            case JsonObject parent:
                parent[target.GetPropertyName()] = with;
                break;
            case JsonArray array:
                array[target.GetElementIndex()] = with;
                break;
        }

        what.Append($"{path} = {text}");
    }

    private static void Collect(JsonNode node, List<JsonNode> into)
    {
        into.Add(node);
        switch (node)
        {
            case JsonObject obj:
                foreach (var (_, child) in obj)
                {
                    if (child is not null)
                    {
                        Collect(child, into);
                    }
                }

                break;
            case JsonArray array:
                foreach (var child in array)
                {
                    if (child is not null)
                    {
                        Collect(child, into);
                    }
                }

                break;
        }
    }

    /// <summary>One byte-level mutation of JSON text.</summary>
    public static byte[] MutateBytes(byte[] bytes, FuzzRandom random, StringBuilder what)
    {
        var at = bytes.Length == 0 ? 0 : random.Next(bytes.Length);
        byte[] Insert(byte[] extra) => [.. bytes.AsSpan(0, at), .. extra, .. bytes.AsSpan(at)];
        switch (random.Next(8))
        {
            case 0:
                what.Append($"; invalid UTF-8 at {at}");
                return Insert(random.Pick(new byte[][] { [0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82] }));
            case 1:
                var quote = Array.IndexOf(bytes, (byte)'"', at);
                at = quote < 0 ? at : quote + 1;
                what.Append($"; lone surrogate escape at {at}");
                return Insert(Encoding.ASCII.GetBytes(random.Pick(new[] { "\\ud800", "\\udc00", "\\ud800\\u0041" })));
            case 2:
                what.Append($"; truncated to {at}");
                return bytes[..at];
            case 3:
                var depth = random.Pick(new[] { 63, 64, 65, 1000 });
                what.Append($"; nested {depth} deep");
                return Encoding.ASCII.GetBytes("{\"deep\": " + new string('[', depth) + new string(']', depth) + "}");
            case 4:
                what.Append($"; byte {at} flipped");
                var flipped = bytes.ToArray();
                if (flipped.Length > 0)
                {
                    flipped[at] ^= (byte)(1 << random.Next(8));
                }

                return flipped;
            case 5:
                what.Append("; BOM and trailing garbage");
                return [0xEF, 0xBB, 0xBF, .. bytes, .. "}}"u8];
            case 6:
                what.Append($"; huge number literal at {at}");
                return Insert("1e99999"u8.ToArray());
            default:
                what.Append("; a NUL byte");
                return Insert([0]);
        }
    }
}
