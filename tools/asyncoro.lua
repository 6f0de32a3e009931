-- tools/asyncoro.lua: a Wireshark dissector for asyncoro's wire protocol
-- (doc/protocol.md; the constants are net/wire.h's, the value layouts
-- engine/pack.c's). Written for the Lua 5.2 API of Wireshark 4.0 (Debian
-- 12's tshark 4.0.x) and tested with 4.0.17 (tests/dissector.test).
--
-- Load it for one run:
--     wireshark -X lua_script:/usr/local/share/asyncoro/asyncoro.lua
--     tshark -X lua_script:.../asyncoro.lua -r capture.pcap -Y asyncoro -V
-- or for good: copy it into ~/.local/lib/wireshark/plugins/.
--
-- What it recognises:
--   TCP  Nodes listen on ephemeral ports, so a heuristic recognises a stream
--        by a segment that starts with a plausible frame header (length
--        within the body limit, a known type, zero reserved bytes, flags
--        within REPLY|ZLIB, a body that starts like a MessagePack array or a
--        zlib stream; or a segment that is just the header of a HELLO or
--        HELLO_ACK, as in the pcap of a record of the receiving node, where
--        each read is a segment) and then claims the whole conversation. A
--        first header cut over several short segments (a node that read it
--        in pieces) is recognised when the pieces, kept as they go by, make
--        one; that frame is shown whole in the segment with its last piece.
--        Frames are reassembled across segments; a segment may carry
--        several frames.
--        Another dissector registered on one of the ports sees the stream
--        first: `-o tcp.try_heuristic_first:TRUE` (or Decode As ->
--        ASYNCORO) settles that.
--   TLS  Between TLS nodes, give tshark the nodes' key log (SSLKEYLOGFILE or
--        ac_node_opts.keylogfile): `-o tls.keylog_file:KEYS`. The decrypted
--        application data reaches this dissector by the same heuristic,
--        registered in TLS's "tls" table (or Decode As on tls.port); frames
--        are reassembled over TLS records by TLS, as over TCP segments.
--        (tests/dissector_tls.test)
--   UDP  Discovery announcements on the udp.port of the preference "UDP
--        discovery port" (51350 by default) and, by a heuristic, on any
--        other port (an ANNOUNCE frame followed by exactly 32 bytes of MAC).
--
-- Every MessagePack value of a body is a tree item over its bytes (its own
-- walker: nil, bool, every int and float width, str, bin, array, map, ext
-- 8/16/32 and fixext; 64-bit integers as Int64/UInt64). Array elements are
-- named after doc/protocol.md's tables (request and reply bodies of each
-- type); a message payload that is itself MessagePack is walked as well.
-- Refs (ext 1) and locations (ext 2) are decoded. A zlib body (flag ZLIB)
-- is inflated into a new data source, "Inflated body", and walked there.
--
-- Filter fields: asyncoro (the protocol), asyncoro.len, asyncoro.type,
-- asyncoro.flags (.reply, .zlib, .unknown), asyncoro.reserved,
-- asyncoro.req_id, asyncoro.body, asyncoro.inflated_len, asyncoro.mac,
-- asyncoro.node_name (HELLO, HELLO_ACK, ANNOUNCE), asyncoro.rc,
-- asyncoro.ref (as text: kind/slot.gen@address:port) and asyncoro.ref.kind,
-- .node, .family, .port, .scope, .ip, .ipv6, .inc, .id, .slot, .gen;
-- asyncoro.loc (as text) and asyncoro.loc.family, .port, .scope, .ip,
-- .ipv6; generic values asyncoro.mp.nil, .bool, .uint, .int, .float, .str,
-- .bin, .bin_len, .array, .map, .ext_type, .ext_data.
--
-- Expert infos (warnings), each a filter field too (asyncoro.expert.*):
-- a body over AC_WIRE_BODY_MAX (as sent or inflated), a handshake body over
-- AC_WIRE_HELLO_MAX, a datagram over AC_WIRE_ANNOUNCE_MAX, reserved bytes or
-- unknown flag bits set, an unknown type (or one on the wrong transport), a
-- name over AC_WIRE_NAME_MAX, a path over AC_WIRE_PATH_MAX, a payload over
-- AC_WIRE_PAYLOAD_MAX, malformed MessagePack (truncated, reserved tag,
-- nesting over 32, counts beyond the bytes, bytes after the value, a body
-- that is not an array), a bad ref or location, a zlib body that does not
-- inflate, a frame length under the header's, a MAC that is not 32 bytes.

-- ---- constants (net/wire.h) -------------------------------------------------

local AC = {
	HDR = 12,
	BODY_MAX = 4 * 1024 * 1024,
	HELLO_MAX = 4096,
	NAME_MAX = 255,
	PATH_MAX = 1024,
	PAYLOAD_MAX = 4 * 1024 * 1024 - 1024,
	MAC = 32,
	ANNOUNCE_MAX = 1024,
	UDP_PORT = 51350,
	DEPTH_MAX = 32, -- engine/pack.c: AC_PACK_DEPTH_MAX
	MAGIC = 0x41434f31,
	EXT_REF = 1,
	EXT_LOC = 2,
	REF_LEN = 40,
	LOC_LEN = 23,
}
local WF_REPLY, WF_ZLIB = 1, 2
local T_ANNOUNCE = 20

local type_names = {
	[1] = "HELLO", [2] = "HELLO_ACK", [3] = "AUTH", [4] = "AUTH_OK",
	[5] = "REFUSE", [6] = "PING", [7] = "BYE", [8] = "SEND", [9] = "DELIVER",
	[10] = "LOCATE", [11] = "MONITOR", [12] = "TERMINATE", [13] = "FINISH",
	[14] = "CHAN", [15] = "RCI_CALL", [16] = "FILE_BEGIN", [17] = "FILE_DATA",
	[18] = "FILE_END", [19] = "DEL_FILE", [20] = "ANNOUNCE", [21] = "EXIT",
}

-- Names of the elements of each body (doc/protocol.md). An element is a
-- name, or {name, elements} for a nested array.
local MSG = { "msg_kind", "msg_aux", "msg_from", "payload" }
local HELLO = { "magic", "version", "nonce", "name", "location",
	"incarnation", "caps", "udp_port" }
local HELLO_ACK = { "magic", "version", "nonce", "name", "location",
	"incarnation", "caps", "udp_port", "mac" }
local SEND = { "to", "msg_kind", "msg_aux", "msg_from", "payload" }
local RC = { "rc" }
local schema = {
	[1] = { req = HELLO },
	[2] = { req = HELLO_ACK },
	[3] = { req = { "mac" } },
	[5] = { req = { "reason" } },
	[6] = { rep = {} },
	[8] = { req = SEND },
	[9] = { req = SEND, rep = RC },
	[10] = { req = { "kind", "name" }, rep = { "rc", "ref" } },
	[11] = { req = { "monitor", "target" }, rep = RC },
	[12] = { req = { "target", "none" }, rep = RC },
	[13] = { req = { "target", "timeout_ms" }, rep = { "rc", { "msg", MSG } } },
	[14] = { req = { "op", "chan", "subscriber", { "msg", MSG }, "timeout_ms", "n" },
		rep = RC },
	[15] = { req = { "rci", { "args", MSG } }, rep = { "rc", "coroutine" } },
	[16] = { req = { "name", "dir", "size", "mtime_ns", "mode", "overwrite" },
		rep = { "rc", "xfer", "size", "mtime_ns", "mode" } },
	[17] = { req = { "xfer", "offset", "bytes" }, rep = RC },
	[18] = { req = { "xfer" }, rep = RC },
	[19] = { req = { "name", "dir" }, rep = RC },
	[20] = { req = { "magic", "version", "name", "location", "incarnation",
		"udp_port", "relay" } },
	[21] = { req = SEND, rep = RC },
}
schema[21].req = { "monitor", "msg_kind", "msg_aux", "msg_from", "payload" }

local ref_kinds = { [0] = "none", [1] = "coro", [2] = "chan", [3] = "rci" }
local families = { [0] = "none", [4] = "IPv4", [6] = "IPv6" }
local chan_ops = { [1] = "subscribe", [2] = "unsubscribe", [3] = "send", [4] = "deliver" }
local msg_kinds = { [0] = "data", [1] = "exit notification" }
local exit_reasons = { [0] = "returned", [1] = "failed", [2] = "terminated", [3] = "node lost" }
local errnos = {
	[1] = "EPERM", [2] = "ENOENT", [3] = "ESRCH", [4] = "EINTR", [5] = "EIO",
	[9] = "EBADF", [11] = "EAGAIN", [12] = "ENOMEM", [13] = "EACCES",
	[16] = "EBUSY", [17] = "EEXIST", [20] = "ENOTDIR", [21] = "EISDIR",
	[22] = "EINVAL", [27] = "EFBIG", [28] = "ENOSPC", [32] = "EPIPE",
	[36] = "ENAMETOOLONG", [39] = "ENOTEMPTY", [40] = "ELOOP", [71] = "EPROTO",
	[74] = "EBADMSG", [90] = "EMSGSIZE", [95] = "EOPNOTSUPP",
	[103] = "ECONNABORTED", [104] = "ECONNRESET", [105] = "ENOBUFS",
	[107] = "ENOTCONN", [110] = "ETIMEDOUT", [111] = "ECONNREFUSED",
	[113] = "EHOSTUNREACH", [116] = "ESTALE", [125] = "ECANCELED",
}

-- ---- protocol, fields, expert infos --------------------------------------------

local proto = Proto.new("asyncoro", "asyncoro distributed coroutines protocol")

local f = {
	len = ProtoField.uint32("asyncoro.len", "Length", base.DEC, nil, nil,
		"Bytes after the length field (8 + body)"),
	type = ProtoField.uint8("asyncoro.type", "Type", base.DEC, type_names),
	flags = ProtoField.uint8("asyncoro.flags", "Flags", base.HEX),
	flag_reply = ProtoField.bool("asyncoro.flags.reply", "Reply", 8, nil, WF_REPLY),
	flag_zlib = ProtoField.bool("asyncoro.flags.zlib", "Zlib", 8, nil, WF_ZLIB),
	flag_unknown = ProtoField.uint8("asyncoro.flags.unknown", "Unknown bits", base.HEX,
		nil, 0xfc),
	reserved = ProtoField.uint16("asyncoro.reserved", "Reserved", base.HEX),
	req_id = ProtoField.uint32("asyncoro.req_id", "Request id", base.DEC),
	body = ProtoField.bytes("asyncoro.body", "Body"),
	inflated_len = ProtoField.uint32("asyncoro.inflated_len", "Inflated length"),
	mac = ProtoField.bytes("asyncoro.mac", "MAC (HMAC-SHA256 of the frame)"),
	node_name = ProtoField.string("asyncoro.node_name", "Node name"),
	rc = ProtoField.int64("asyncoro.rc", "Return code"),
	ref = ProtoField.string("asyncoro.ref", "Ref"),
	ref_kind = ProtoField.uint8("asyncoro.ref.kind", "Kind", base.DEC, ref_kinds),
	ref_node = ProtoField.string("asyncoro.ref.node", "Node"),
	ref_family = ProtoField.uint8("asyncoro.ref.family", "Family", base.DEC, families),
	ref_port = ProtoField.uint16("asyncoro.ref.port", "Port"),
	ref_scope = ProtoField.uint32("asyncoro.ref.scope", "Scope"),
	ref_ip = ProtoField.ipv4("asyncoro.ref.ip", "Address"),
	ref_ipv6 = ProtoField.ipv6("asyncoro.ref.ipv6", "Address"),
	ref_inc = ProtoField.uint64("asyncoro.ref.inc", "Incarnation", base.HEX),
	ref_id = ProtoField.uint64("asyncoro.ref.id", "Id", base.HEX),
	ref_slot = ProtoField.uint32("asyncoro.ref.slot", "Slot"),
	ref_gen = ProtoField.uint32("asyncoro.ref.gen", "Generation"),
	loc = ProtoField.string("asyncoro.loc", "Location"),
	loc_family = ProtoField.uint8("asyncoro.loc.family", "Family", base.DEC, families),
	loc_port = ProtoField.uint16("asyncoro.loc.port", "Port"),
	loc_scope = ProtoField.uint32("asyncoro.loc.scope", "Scope"),
	loc_ip = ProtoField.ipv4("asyncoro.loc.ip", "Address"),
	loc_ipv6 = ProtoField.ipv6("asyncoro.loc.ipv6", "Address"),
	mp_nil = ProtoField.none("asyncoro.mp.nil", "nil"),
	mp_bool = ProtoField.bool("asyncoro.mp.bool", "Boolean"),
	mp_uint = ProtoField.uint64("asyncoro.mp.uint", "Unsigned integer"),
	mp_int = ProtoField.int64("asyncoro.mp.int", "Signed integer"),
	mp_float = ProtoField.double("asyncoro.mp.float", "Float"),
	mp_str = ProtoField.string("asyncoro.mp.str", "String"),
	mp_bin = ProtoField.bytes("asyncoro.mp.bin", "Bytes"),
	mp_bin_len = ProtoField.uint32("asyncoro.mp.bin_len", "Binary length"),
	mp_array = ProtoField.uint32("asyncoro.mp.array", "Array items"),
	mp_map = ProtoField.uint32("asyncoro.mp.map", "Map pairs"),
	mp_ext_type = ProtoField.int8("asyncoro.mp.ext_type", "Extension type"),
	mp_ext_data = ProtoField.bytes("asyncoro.mp.ext_data", "Extension data"),
}
local fields = {}
for _, v in pairs(f) do
	fields[#fields + 1] = v
end
proto.fields = fields

local function warn_expert(abbr, text, group)
	return ProtoExpert.new("asyncoro.expert." .. abbr, text,
		group or expert.group.PROTOCOL, expert.severity.WARN)
end
local e = {
	body_max = warn_expert("body_max", "Body over AC_WIRE_BODY_MAX (4 MiB)"),
	hello_max = warn_expert("hello_max", "Handshake body over AC_WIRE_HELLO_MAX (4096 bytes)"),
	announce_max = warn_expert("announce_max",
		"Announcement over AC_WIRE_ANNOUNCE_MAX (1024 bytes)"),
	reserved = warn_expert("reserved", "Reserved bytes not zero"),
	flags = warn_expert("flags", "Unknown flag bits set"),
	unknown_type = warn_expert("unknown_type", "Unknown frame type"),
	wrong_transport = warn_expert("wrong_transport",
		"Frame type not allowed on this transport"),
	name_max = warn_expert("name_max", "Name over AC_WIRE_NAME_MAX (255 bytes)"),
	path_max = warn_expert("path_max", "Path over AC_WIRE_PATH_MAX (1024 bytes)"),
	payload_max = warn_expert("payload_max", "Payload over AC_WIRE_PAYLOAD_MAX"),
	short_len = warn_expert("short_len", "Frame length under the header's 8 bytes",
		expert.group.MALFORMED),
	malformed = warn_expert("malformed", "Malformed MessagePack", expert.group.MALFORMED),
	bad_ext = warn_expert("bad_ext", "Bad ref or location", expert.group.MALFORMED),
	zlib = warn_expert("zlib", "Zlib body does not inflate", expert.group.MALFORMED),
	mac = warn_expert("mac", "Announcement MAC is not 32 bytes", expert.group.MALFORMED),
}
local experts = {}
for _, v in pairs(e) do
	experts[#experts + 1] = v
end
proto.experts = experts

proto.prefs.udp_port = Pref.uint("UDP discovery port", AC.UDP_PORT,
	"UDP port of discovery announcements (nodes' udp_port option)")
proto.prefs.payloads = Pref.bool("Walk MessagePack payloads", true,
	"Show a message payload that is one MessagePack value as a tree too")

-- ---- small helpers ---------------------------------------------------------------

-- Bitwise and of two non-negative integers (Lua 5.2 has bit32; later Luas
-- do not).
local band = (bit32 and bit32.band) or function(a, b)
	local r, v = 0, 1
	while a > 0 and b > 0 do
		if a % 2 == 1 and b % 2 == 1 then r = r + v end
		a, b, v = math.floor(a / 2), math.floor(b / 2), v * 2
	end
	return r
end

local function nbytes(n)
	return n == 1 and "1 byte" or string.format("%d bytes", n)
end

local function ipv4_text(tvb, p)
	return string.format("%d.%d.%d.%d", tvb(p, 1):uint(), tvb(p + 1, 1):uint(),
		tvb(p + 2, 1):uint(), tvb(p + 3, 1):uint())
end

-- IPv6 text as RFC 5952 has it: lower-case hex, the longest run of two or
-- more zero groups written "::".
local function ipv6_text(tvb, p)
	local g = {}
	for i = 0, 7 do
		g[i + 1] = tvb(p + 2 * i, 2):uint()
	end
	local best, blen, cur, clen = 0, 0, 0, 0
	for i = 1, 8 do
		if g[i] == 0 then
			if clen == 0 then cur = i end
			clen = clen + 1
			if clen > blen then best, blen = cur, clen end
		else
			clen = 0
		end
	end
	local out = {}
	local i = 1
	while i <= 8 do
		if blen >= 2 and i == best then
			out[#out + 1] = (i == 1) and ":" or ""
			i = i + blen
			if i > 8 then out[#out + 1] = "" end
		else
			out[#out + 1] = string.format("%x", g[i])
			i = i + 1
		end
	end
	return table.concat(out, ":")
end

-- The 23-byte location at p as text (ac_addr_format's form), and whether it
-- is canonical (engine/pack.c's pack_loc_decode: a known family, zero bytes
-- past the family's address length).
local function loc_decode(tvb, p)
	local fam = tvb(p, 1):uint()
	local iplen = ({ [0] = 0, [4] = 4, [6] = 16 })[fam]
	if not iplen then return string.format("family %d?", fam), false end
	local ok = true
	for i = iplen, 15 do
		if tvb(p + 7 + i, 1):uint() ~= 0 then ok = false end
	end
	local port, scope = tvb(p + 1, 2):uint(), tvb(p + 3, 4):uint()
	if fam == 4 then
		return ipv4_text(tvb, p + 7) .. ":" .. port, ok
	elseif fam == 6 then
		local ip = ipv6_text(tvb, p + 7)
		if scope ~= 0 then ip = ip .. "%" .. scope end
		return "[" .. ip .. "]:" .. port, ok
	end
	return "none", ok
end

-- Add the fields of the location at p under tree (F: the ref's or the
-- location's fields).
local function loc_fields(tree, tvb, p, F)
	local fam = tvb(p, 1):uint()
	tree:add(F.family, tvb(p, 1))
	tree:add(F.port, tvb(p + 1, 2))
	tree:add(F.scope, tvb(p + 3, 4))
	if fam == 4 then
		tree:add(F.ip, tvb(p + 7, 4))
	elseif fam == 6 then
		tree:add(F.ipv6, tvb(p + 7, 16))
	end
end
local REF_F = { family = f.ref_family, port = f.ref_port, scope = f.ref_scope,
	ip = f.ref_ip, ipv6 = f.ref_ipv6 }
local LOC_F = { family = f.loc_family, port = f.loc_port, scope = f.loc_scope,
	ip = f.loc_ip, ipv6 = f.loc_ipv6 }

-- A number shown with what it means for the element called name (hex and
-- octal forms only for the non-negative numbers they are meant for).
local function annotate(ctx, name, n)
	if n < 0 and (name == "magic" or name == "caps" or name == "mode") then
		return nil
	elseif name == "magic" then
		return string.format("0x%08x%s", n, n == AC.MAGIC and " (\"ACO1\")" or " (wrong)")
	elseif name == "rc" and n < 0 then
		return string.format("%d (%s)", n, errnos[-n] or "errno " .. -n)
	elseif name == "kind" and ctx.type == 10 then
		return string.format("%d (%s)", n, ref_kinds[n] or "?")
	elseif name == "op" then
		return string.format("%d (%s)", n, chan_ops[n] or "?")
	elseif name == "msg_kind" then
		ctx.msg_kind = n
		return string.format("%d (%s)", n, msg_kinds[n] or "?")
	elseif name == "msg_aux" and ctx.msg_kind == 1 then
		return string.format("%d (%s)", n, exit_reasons[n] or "?")
	elseif name == "caps" then
		local c = {}
		if n % 2 == 1 then c[#c + 1] = "zlib" end
		if math.floor(n / 2) % 2 == 1 then c[#c + 1] = "TLS" end
		return string.format("0x%x (%s)", n, #c > 0 and table.concat(c, ", ") or "none")
	elseif name == "mode" then
		return string.format("0%o", n)
	end
	return nil
end

-- ---- MessagePack -------------------------------------------------------------------

-- Tags other than the fix ranges: kind, bytes of the length field (lb) or
-- of the fixed payload (n), and for ext whether a type byte follows.
local TAGS = {
	[0xc0] = { k = "nil", n = 0 },
	[0xc2] = { k = "bool", n = 0, imm = false },
	[0xc3] = { k = "bool", n = 0, imm = true },
	[0xc4] = { k = "bin", lb = 1 }, [0xc5] = { k = "bin", lb = 2 },
	[0xc6] = { k = "bin", lb = 4 },
	[0xc7] = { k = "ext", lb = 1 }, [0xc8] = { k = "ext", lb = 2 },
	[0xc9] = { k = "ext", lb = 4 },
	[0xca] = { k = "float", n = 4 }, [0xcb] = { k = "float", n = 8 },
	[0xcc] = { k = "uint", n = 1 }, [0xcd] = { k = "uint", n = 2 },
	[0xce] = { k = "uint", n = 4 }, [0xcf] = { k = "uint", n = 8 },
	[0xd0] = { k = "int", n = 1 }, [0xd1] = { k = "int", n = 2 },
	[0xd2] = { k = "int", n = 4 }, [0xd3] = { k = "int", n = 8 },
	[0xd4] = { k = "ext", n = 1 }, [0xd5] = { k = "ext", n = 2 }, [0xd6] = { k = "ext", n = 4 },
	[0xd7] = { k = "ext", n = 8 }, [0xd8] = { k = "ext", n = 16 },
	[0xd9] = { k = "str", lb = 1 }, [0xda] = { k = "str", lb = 2 },
	[0xdb] = { k = "str", lb = 4 },
	[0xdc] = { k = "array", lb = 2 }, [0xdd] = { k = "array", lb = 4 },
	[0xde] = { k = "map", lb = 2 }, [0xdf] = { k = "map", lb = 4 },
}

-- The head of the value at off (values end at lim): {k = kind, hl = bytes of
-- tag, length and ext type, n = payload bytes (count for array and map),
-- imm = value held in the tag, et = ext type}, or nil and why. Checks that
-- the head and payload fit, and that a count does not exceed the bytes left.
local function mp_head(tvb, off, lim)
	if off >= lim then return nil, "value truncated" end
	local b = tvb(off, 1):uint()
	if b <= 0x7f then return { k = "uint", hl = 1, n = 0, imm = b } end
	if b >= 0xe0 then return { k = "int", hl = 1, n = 0, imm = b - 256 } end
	if b <= 0x8f then return { k = "map", hl = 1, n = b - 0x80 } end
	if b <= 0x9f then return { k = "array", hl = 1, n = b - 0x90 } end
	local h
	if b <= 0xbf then
		h = { k = "str", hl = 1, n = b - 0xa0 }
	else
		local d = TAGS[b]
		if not d then return nil, string.format("reserved tag 0x%02x", b) end
		h = { k = d.k, hl = 1, n = d.n, imm = d.imm }
		if d.lb then
			if off + 1 + d.lb > lim then return nil, "length truncated" end
			h.n = tvb(off + 1, d.lb):uint()
			h.hl = 1 + d.lb
		end
		if d.k == "ext" then
			if off + h.hl + 1 > lim then return nil, "ext type truncated" end
			h.et = tvb(off + h.hl, 1):int()
			h.hl = h.hl + 1
		end
	end
	local left = lim - off - h.hl
	if h.k == "array" or h.k == "map" then
		if (h.k == "map" and 2 or 1) * h.n > left then
			return nil, string.format("%s of %d items in %d bytes", h.k, h.n, left)
		end
	elseif h.n > left then
		return nil, string.format("%s of %d bytes, %d left", h.k, h.n, left)
	end
	return h
end

-- End offset of the value at off, or nil, why and where (no tree: checks a
-- payload before it is shown as MessagePack).
local function mp_skip(tvb, off, lim, depth)
	local h, err = mp_head(tvb, off, lim)
	if not h then return nil, err, off end
	if h.k ~= "array" and h.k ~= "map" then return off + h.hl + h.n end
	if depth >= AC.DEPTH_MAX then return nil, "nesting deeper than 32", off end
	local p = off + h.hl
	for _ = 1, (h.k == "map" and 2 or 1) * h.n do
		local why, at
		p, why, at = mp_skip(tvb, p, lim, depth + 1)
		if not p then return nil, why, at end
	end
	return p
end

local function malformed(tree, tvb, off, lim, why)
	local len = lim > off and lim - off or 0
	local r = len > 0 and tvb(off, len) or nil
	if r then
		tree:add_tvb_expert_info(e.malformed, r, "Malformed MessagePack: " .. why)
	else
		tree:add_proto_expert_info(e.malformed, "Malformed MessagePack: " .. why)
	end
end

local mp_walk

-- An ext 1 (ref) or 2 (location) value; false when its length or content
-- is not what engine/pack.c writes.
local function mp_ref_loc(ctx, tvb, off, h, tree, label)
	local p, r = off + h.hl, tvb(off, h.hl + h.n)
	if h.et == AC.EXT_LOC and h.n == AC.LOC_LEN then
		local text, ok = loc_decode(tvb, p)
		local it = tree:add(f.loc, r, text)
		it:set_text(label .. ": loc " .. text)
		loc_fields(it, tvb, p, LOC_F)
		if not ok then
			it:add_proto_expert_info(e.bad_ext, "Bad location: family or padding")
		end
		return true
	end
	if h.et ~= AC.EXT_REF or h.n ~= AC.REF_LEN then return false end
	local kind = tvb(p, 1):uint()
	local node, ok = loc_decode(tvb, p + 1)
	local id = tvb(p + 32, 8)
	local text = string.format("%s/%d.%d@%s", ref_kinds[kind] or "?", tvb(p + 36, 4):uint(),
		tvb(p + 32, 4):uint(), node == "none" and "local" or node)
	local it = tree:add(f.ref, r, text)
	it:set_text(string.format("%s: ref %s (incarnation 0x%s)", label, text,
		tvb(p + 24, 8):bytes():tohex(true)))
	it:add(f.ref_kind, tvb(p, 1))
	local nt = it:add(f.ref_node, tvb(p + 1, AC.LOC_LEN), node)
	loc_fields(nt, tvb, p + 1, REF_F)
	it:add(f.ref_inc, tvb(p + 24, 8))
	local idt = it:add(f.ref_id, id)
	idt:add(f.ref_slot, tvb(p + 36, 4))
	idt:add(f.ref_gen, tvb(p + 32, 4))
	if kind > 3 or not ok then
		it:add_proto_expert_info(e.bad_ext, "Bad ref: kind, family or padding")
	end
	return true
end

local function mp_ext(ctx, tvb, off, h, tree, label)
	local ours = h.et == AC.EXT_REF or h.et == AC.EXT_LOC
	if ours and mp_ref_loc(ctx, tvb, off, h, tree, label) then return end
	local it = tree:add(f.mp_ext_type, tvb(off, h.hl + h.n), h.et)
	it:set_text(string.format("%s: ext type %d, %s", label, h.et, nbytes(h.n)))
	if h.n > 0 then it:add(f.mp_ext_data, tvb(off + h.hl, h.n)) end
	if h.et == AC.EXT_REF or h.et == AC.EXT_LOC then
		it:add_proto_expert_info(e.bad_ext, string.format("Bad %s: %s",
			h.et == AC.EXT_REF and "ref" or "location", nbytes(h.n)))
	end
end

local function mp_bin(ctx, tvb, off, h, tree, label, depth)
	local p = off + h.hl
	local it = tree:add(f.mp_bin_len, tvb(off, h.hl + h.n), h.n)
	it:set_text(string.format("%s: bin, %s", label, nbytes(h.n)))
	if h.n == 0 then return end
	it:add(f.mp_bin, tvb(p, h.n))
	if label ~= "payload" then return end
	if h.n > AC.PAYLOAD_MAX then it:add_proto_expert_info(e.payload_max) end
	-- A payload that is exactly one MessagePack value is shown as one.
	if proto.prefs.payloads and mp_skip(tvb, p, p + h.n, depth + 1) == p + h.n then
		mp_walk(ctx, tvb, p, p + h.n, it, "value", nil, depth + 1)
	end
end

local function mp_str(ctx, tvb, off, h, tree, label, depth)
	local s = h.n > 0 and tvb(off + h.hl, h.n):string(ENC_UTF_8) or ""
	local field = f.mp_str
	if label == "name" and depth == 1 and (ctx.type <= 2 or ctx.type == T_ANNOUNCE) and
	    not ctx.reply then
		field = f.node_name
		ctx.node_name = s
	end
	local it = tree:add(field, tvb(off, h.hl + h.n), s)
	it:set_text(string.format("%s: \"%s\"", label, s))
	if label == "name" and h.n > AC.NAME_MAX then
		it:add_proto_expert_info(e.name_max, string.format(
			"Name of %d bytes, over AC_WIRE_NAME_MAX (255)", h.n))
	elseif label == "dir" and h.n > AC.PATH_MAX then
		it:add_proto_expert_info(e.path_max)
	end
	if label == "name" and depth == 1 and ctx.type == 10 then
		ctx.info_extra = "\"" .. s .. "\""
	end
end

local function mp_number(ctx, tvb, off, h, tree, label, depth)
	local p, r = off + h.hl, tvb(off, h.hl + h.n)
	if h.k == "float" then
		local d = tvb(p, h.n):float()
		tree:add(f.mp_float, r, d):set_text(label .. ": " .. tostring(d))
		return
	end
	local v, field
	if h.k == "uint" then
		v = h.imm and UInt64.new(h.imm) or
			(h.n == 8 and tvb(p, 8):uint64() or UInt64.new(tvb(p, h.n):uint()))
		field = f.mp_uint
	else
		v = h.imm and Int64.new(h.imm) or
			(h.n == 8 and tvb(p, 8):int64() or Int64.new(tvb(p, h.n):int()))
		field = f.mp_int
	end
	-- Below 2^53 a Lua number holds the value exactly.
	local small = (h.imm or h.n < 8) and v:tonumber() or nil
	if label == "rc" and depth == 1 and small then
		field, v = f.rc, Int64.new(small)
	end
	local text = small and annotate(ctx, label, small) or tostring(v)
	if label == "incarnation" and h.k == "uint" then text = "0x" .. v:tohex() end
	tree:add(field, r, v):set_text(label .. ": " .. text)
end

local function mp_scalar(ctx, tvb, off, h, tree, label, depth)
	if h.k == "nil" then
		tree:add(f.mp_nil, tvb(off, 1)):set_text(label .. ": nil")
	elseif h.k == "bool" then
		tree:add(f.mp_bool, tvb(off, 1), h.imm):set_text(label .. ": " .. tostring(h.imm))
	elseif h.k == "str" then
		mp_str(ctx, tvb, off, h, tree, label, depth)
	elseif h.k == "bin" then
		mp_bin(ctx, tvb, off, h, tree, label, depth)
	elseif h.k == "ext" then
		mp_ext(ctx, tvb, off, h, tree, label)
	else
		mp_number(ctx, tvb, off, h, tree, label, depth)
	end
end

local function elem_name(sch, i)
	local el = sch and sch[i]
	if type(el) == "table" then return el[1], el[2] end
	return el or string.format("[%d]", i - 1), nil
end

local function mp_group(ctx, tvb, off, lim, tree, label, sch, depth, h)
	local map = h.k == "map"
	local it = tree:add(map and f.mp_map or f.mp_array, tvb(off, h.hl), h.n)
	it:set_text(string.format("%s: %s of %d", label, h.k, h.n))
	if depth >= AC.DEPTH_MAX then
		malformed(it, tvb, off, lim, "nesting deeper than 32")
		return nil
	end
	local p = off + h.hl
	for i = 1, h.n do
		local name, sub
		if map then
			name = string.format("key[%d]", i - 1)
			p = mp_walk(ctx, tvb, p, lim, it, name, nil, depth + 1)
			if not p then return nil end
			name = string.format("value[%d]", i - 1)
		else
			name, sub = elem_name(sch, i)
		end
		p = mp_walk(ctx, tvb, p, lim, it, name, sub, depth + 1)
		if not p then
			it:set_len(lim - off)
			return nil
		end
	end
	it:set_len(p - off)
	return p
end

-- Show the value at off under tree as label (sch names the elements of an
-- array); returns its end offset, or nil after a malformed-value warning.
mp_walk = function(ctx, tvb, off, lim, tree, label, sch, depth)
	local h, why = mp_head(tvb, off, lim)
	if not h then
		malformed(tree, tvb, off, lim, why)
		return nil
	end
	if h.k == "array" or h.k == "map" then
		return mp_group(ctx, tvb, off, lim, tree, label, sch, depth, h)
	end
	mp_scalar(ctx, tvb, off, h, tree, label, depth)
	return off + h.hl + h.n
end

-- Walk a whole body (bytes off..lim of tvb): one array, nothing after it.
local function walk_body(ctx, tvb, off, lim, tree)
	local s = schema[ctx.type]
	local sch = s and (ctx.reply and s.rep or s.req)
	local b = tvb(off, 1):uint()
	if not (b >= 0x90 and b <= 0x9f) and b ~= 0xdc and b ~= 0xdd then
		tree:add_tvb_expert_info(e.malformed, tvb(off, lim - off),
			"Malformed MessagePack: the body is not an array")
	end
	local p = mp_walk(ctx, tvb, off, lim, tree, "body", sch, 0)
	if p and p < lim then
		malformed(tree, tvb, p, lim, nbytes(lim - p) .. " after the body's value")
	end
end

-- ---- frames --------------------------------------------------------------------

-- Columns: the first frame of a packet sets Info, the next ones append
-- (TCP may call the dissector more than once for one packet).
local info_pkt, info_pass
local function info_add(pinfo, text)
	pinfo.cols.protocol = "asyncoro"
	if info_pkt == pinfo.number and info_pass == pinfo.visited then
		pinfo.cols.info:append(", " .. text)
	else
		info_pkt, info_pass = pinfo.number, pinfo.visited
		pinfo.cols.info:set(text)
	end
end

local function header_checks(ft, tvb, off, h, udp)
	if not type_names[h.type] then
		ft:add_tvb_expert_info(e.unknown_type, tvb(off + 4, 1),
			string.format("Unknown frame type %d", h.type))
	elseif (h.type == T_ANNOUNCE) ~= udp then
		ft:add_tvb_expert_info(e.wrong_transport, tvb(off + 4, 1), string.format(
			"%s over %s", type_names[h.type], udp and "UDP" or "TCP"))
	end
	if band(h.flags, 0xfc) ~= 0 then ft:add_tvb_expert_info(e.flags, tvb(off + 5, 1)) end
	if h.reserved ~= 0 then ft:add_tvb_expert_info(e.reserved, tvb(off + 6, 2)) end
	if h.blen > AC.BODY_MAX then
		ft:add_tvb_expert_info(e.body_max, tvb(off, 4), string.format(
			"Body of %d bytes, over AC_WIRE_BODY_MAX (%d)", h.blen, AC.BODY_MAX))
	elseif h.type <= 4 and h.type >= 1 and h.blen > AC.HELLO_MAX then
		ft:add_tvb_expert_info(e.hello_max, tvb(off, 4), string.format(
			"Handshake body of %d bytes, over AC_WIRE_HELLO_MAX (%d)", h.blen,
			AC.HELLO_MAX))
	end
end

-- The body of a frame: bytes boff.. of tvb, present of them in the capture.
local function frame_body(ctx, ft, tvb, boff, present, h)
	if h.blen == 0 then return end
	if present <= 0 then return end
	local bt = ft:add(f.body, tvb(boff, present))
	if present < h.blen then
		bt:append_text(string.format(" (%d of %d bytes)", present, h.blen))
		return
	end
	if band(h.flags, WF_ZLIB) == 0 then
		return walk_body(ctx, tvb, boff, boff + present, bt)
	end
	local ir = tvb(boff, present):uncompress("Inflated body")
	if not ir or ir:len() == 0 then
		bt:add_proto_expert_info(e.zlib)
		return
	end
	local ilen = ir:len()
	local it = bt:add(f.inflated_len, ir, ilen)
	it:set_generated()
	if ilen > AC.BODY_MAX then
		it:add_proto_expert_info(e.body_max, string.format(
			"Inflated body of %d bytes, over AC_WIRE_BODY_MAX (%d)", ilen, AC.BODY_MAX))
	end
	local itvb = ir:tvb()
	walk_body(ctx, itvb, 0, ilen, it)
end

-- Dissect the frame at off of tvb: avail bytes of it are present (fewer
-- than its length only for a frame too long to reassemble or a short
-- datagram). Returns the frame's tree item.
local function dissect_frame(tvb, off, avail, pinfo, tree, udp)
	local h = {
		len = tvb(off, 4):uint(), type = tvb(off + 4, 1):uint(),
		flags = tvb(off + 5, 1):uint(), reserved = tvb(off + 6, 2):uint(),
		req_id = tvb(off + 8, 4):uint(),
	}
	h.blen = h.len - 8
	local ft = tree:add(proto, tvb(off, avail))
	ft:add(f.len, tvb(off, 4))
	ft:add(f.type, tvb(off + 4, 1))
	local fl = ft:add(f.flags, tvb(off + 5, 1))
	fl:add(f.flag_reply, tvb(off + 5, 1))
	fl:add(f.flag_zlib, tvb(off + 5, 1))
	fl:add(f.flag_unknown, tvb(off + 5, 1))
	ft:add(f.reserved, tvb(off + 6, 2))
	ft:add(f.req_id, tvb(off + 8, 4))
	header_checks(ft, tvb, off, h, udp)
	local ctx = { type = h.type, reply = band(h.flags, WF_REPLY) ~= 0 }
	frame_body(ctx, ft, tvb, off + AC.HDR, avail - AC.HDR, h)
	local text = type_names[h.type] or string.format("type %d", h.type)
	if ctx.reply then text = text .. " reply" end
	if h.req_id ~= 0 then text = text .. " id=" .. h.req_id end
	if band(h.flags, WF_ZLIB) ~= 0 then text = text .. " zlib" end
	if ctx.node_name then text = text .. " name=\"" .. ctx.node_name .. "\"" end
	if ctx.info_extra then text = text .. " " .. ctx.info_extra end
	ft:append_text(", " .. text)
	info_add(pinfo, text)
	return ft
end

-- A frame whose length field is under 8: the stream cannot be framed past
-- it; show the header bytes that are there.
local function dissect_short(tvb, off, pinfo, tree)
	local rem = tvb:len() - off
	local ft = tree:add(proto, tvb(off, rem))
	ft:add(f.len, tvb(off, 4))
	ft:add_tvb_expert_info(e.short_len, tvb(off, 4), string.format(
		"Frame length %d, under the header's 8 bytes: the stream cannot be framed",
		tvb(off, 4):uint()))
	info_add(pinfo, "bad frame length")
end

-- ---- transports --------------------------------------------------------------------

-- A stream whose first frame header is cut over several segments (a node
-- that reads it in pieces: a record's pcap has one segment per read) is
-- recognised by the heuristic only when the pieces are put together, after
-- TCP saw them go by unclaimed. Tables filled in the first pass and read in
-- both (keyed by frame number, so that the second pass does the same):
--   pieces[n]  segment n holds the start of a frame completed later;
--   mid[n]     segment n starts inside a frame: { need = its bytes in this
--              segment and after, prefix = the frame's earlier bytes (kept
--              for frames up to PIECES_MAX bytes, so that the segment with
--              the last piece shows the whole frame) }.
-- And, during the first pass only, per direction of a TCP connection:
--   pend[k]    { ba = unclaimed short segments' bytes, frames = their numbers }
--   skipping[k] the mid[] entry of the direction's next segment.
local pieces, mid, pend, skipping = {}, {}, {}, {}
local PIECES_MAX = 65536

local function dir_key(pinfo)
	return tostring(pinfo.src) .. ":" .. pinfo.src_port .. ">" .. tostring(pinfo.dst) ..
		":" .. pinfo.dst_port
end

-- The part of a segment that belongs to a frame begun in earlier segments
-- (mid[pinfo.number]): the whole frame dissected from its pieces when they
-- are all here, else its bytes shown as a continuation. Returns the offset
-- of the next frame in tvb.
local function dissect_mid(tvb, pinfo, tree, m)
	local total = tvb:len()
	if m.prefix and m.need <= total then
		local whole = (m.prefix .. tvb:bytes(0, m.need)):tvb("Frame across segments")
		dissect_frame(whole, 0, whole:len(), pinfo, tree, false)
		return m.need
	end
	local take = math.min(m.need, total)
	tree:add(proto, tvb(0, take)):append_text(
		" (continuation of a frame that began in an earlier segment)")
	info_add(pinfo, "continuation")
	if not pinfo.visited then
		local keep = m.prefix and m.prefix:len() + m.need <= PIECES_MAX
		skipping[dir_key(pinfo)] = m.need > take and {
			need = m.need - take, prefix = keep and (m.prefix .. tvb:bytes(0, take)) or nil,
		} or nil
	end
	return take
end

-- A TCP segment (or reassembled bytes): every whole frame in it, asking
-- TCP for more bytes when the last one is cut. A frame over the body limit
-- is not reassembled (a node closes the connection): what is there is shown.
local function dissect_tcp(tvb, pinfo, tree)
	local total, off = tvb:len(), 0
	if pieces[pinfo.number] then
		tree:add(proto, tvb()):append_text(" (start of a frame completed in a later segment)")
		info_add(pinfo, "start of a frame")
		return total
	end
	local m = mid[pinfo.number]
	if not m and not pinfo.visited and skipping[dir_key(pinfo)] then
		m = skipping[dir_key(pinfo)]
		skipping[dir_key(pinfo)] = nil
		mid[pinfo.number] = m
	end
	if m then off = dissect_mid(tvb, pinfo, tree, m) end
	while off < total do
		local rem = total - off
		if rem < AC.HDR then
			if rem >= 4 and tvb(off, 4):uint() < 8 then
				dissect_short(tvb, off, pinfo, tree)
				return total
			end
			-- Asking for the header's missing bytes only would make
			-- TCP hand over just those: take the next segment whole.
			pinfo.desegment_offset = off
			pinfo.desegment_len = DESEGMENT_ONE_MORE_SEGMENT
			return total
		end
		local len = tvb(off, 4):uint()
		if len < 8 then
			dissect_short(tvb, off, pinfo, tree)
			return total
		end
		if len - 8 > AC.BODY_MAX then
			dissect_frame(tvb, off, rem, pinfo, tree, false)
			return total
		end
		if rem < len + 4 then
			pinfo.desegment_offset = off
			pinfo.desegment_len = len + 4 - rem
			return total
		end
		dissect_frame(tvb, off, len + 4, pinfo, tree, false)
		off = off + len + 4
	end
	return total
end

-- A discovery datagram: one frame, then the MAC.
local function dissect_udp(tvb, pinfo, tree)
	local total = tvb:len()
	if total < AC.HDR then return 0 end
	local len = tvb(0, 4):uint()
	if len < 8 then
		dissect_short(tvb, 0, pinfo, tree)
		return total
	end
	local flen = math.min(len + 4, total)
	local ft = dissect_frame(tvb, 0, flen, pinfo, tree, true)
	local maclen = total - flen
	if maclen > 0 then ft:add(f.mac, tvb(flen, maclen)) end
	if maclen ~= AC.MAC then
		ft:add_proto_expert_info(e.mac,
			string.format("MAC of %d bytes, not %d", maclen, AC.MAC))
	end
	if total > AC.ANNOUNCE_MAX then
		ft:add_proto_expert_info(e.announce_max, string.format(
			"Datagram of %d bytes, over AC_WIRE_ANNOUNCE_MAX (%d)", total,
			AC.ANNOUNCE_MAX))
	end
	return total
end

-- pinfo.port_type of UDP (epan/address.h: PT_NONE, PT_SCTP, PT_TCP, PT_UDP).
local PT_UDP = 3

function proto.dissector(tvb, pinfo, tree)
	if pinfo.port_type == PT_UDP then return dissect_udp(tvb, pinfo, tree) end
	return dissect_tcp(tvb, pinfo, tree)
end

-- Whether n bytes, read by u(off, len) (an unsigned big-endian integer),
-- start with a frame header plausible for TCP.
local function plausible_tcp(u, n)
	if n < AC.HDR then return false end
	local len, ty, flags, rsv = u(0, 4), u(4, 1), u(5, 1), u(6, 2)
	if len < 8 or len - 8 > AC.BODY_MAX or not type_names[ty] or ty == T_ANNOUNCE then
		return false
	end
	if rsv ~= 0 or band(flags, 0xfc) ~= 0 then return false end
	if len == 8 then
		-- Empty bodies: AUTH_OK, PING, BYE.
		return ty == 4 or ty == 6 or ty == 7
	end
	if n == AC.HDR then
		-- A header alone: a stream seen from a node that reads the header,
		-- then the body (`acpcap pcap` makes one segment per read). Only
		-- for the first frames of a handshake, with no flags.
		return (ty == 1 or ty == 2) and flags == 0 and len - 8 <= AC.HELLO_MAX
	end
	local b = u(AC.HDR, 1)
	if band(flags, WF_ZLIB) ~= 0 then return b == 0x78 end
	if ty <= 2 then
		-- HELLO, HELLO_ACK: [magic (uint 32), ...] as the nodes write it.
		return (b == 0x98 or b == 0x99) and n >= AC.HDR + 6 and
			u(AC.HDR + 1, 1) == 0xce and u(AC.HDR + 2, 4) == AC.MAGIC
	end
	return (b >= 0x90 and b <= 0x9f) or b == 0xdc or b == 0xdd
end

local function tvb_reader(tvb)
	return function(off, len) return tvb(off, len):uint() end
end

local function bytes_reader(ba)
	return function(off, len)
		local v = 0
		for i = off, off + len - 1 do v = v * 256 + ba:get_index(i) end
		return v
	end
end

-- The first pass saw segment n of direction k go by unclaimed: keep its
-- first bytes while they may be the start of a cut header, and claim the
-- stream when the pieces so far hold a plausible header. Returns true when
-- it claimed (mid[] and pieces[] say how to dissect).
local function heur_pieces(tvb, pinfo, k)
	local p = pend[k]
	local cat = p and (p.ba .. tvb:bytes(0, math.min(tvb:len(), AC.HDR + 6))) or nil
	if cat and cat:len() >= AC.HDR and plausible_tcp(bytes_reader(cat), cat:len()) then
		local plen = p.ba:len()
		local need = bytes_reader(p.ba .. tvb:bytes(0, math.min(tvb:len(), 4)))(0, 4)
			+ 4 - plen
		for _, n in ipairs(p.frames) do pieces[n] = true end
		mid[pinfo.number] = { need = need, prefix = p.ba }
		pend[k] = nil
		return true
	end
	if cat and cat:len() < AC.HDR and tvb:len() < AC.HDR then
		p.ba = cat
		p.frames[#p.frames + 1] = pinfo.number
	elseif tvb:len() < AC.HDR then
		pend[k] = { ba = tvb:bytes(), frames = { pinfo.number } }
	else
		pend[k] = nil
	end
	return false
end

local function heur_tcp(tvb, pinfo, tree)
	local k = dir_key(pinfo)
	if plausible_tcp(tvb_reader(tvb), tvb:len()) then
		pend[k] = nil
	elseif pinfo.visited or not heur_pieces(tvb, pinfo, k) then
		return false
	end
	pinfo.conversation = proto
	dissect_tcp(tvb, pinfo, tree)
	return true
end

-- Decrypted TLS application data (tshark -o tls.keylog_file:FILE): the
-- TLS dissector hands each record to the "tls" heuristics until one claims
-- it. Frames are reassembled over records by TLS itself (desegment_len and
-- desegment_offset, as over TCP). The conversation is not claimed here: it
-- belongs to TLS, which must go on decrypting its records.
local function heur_tls(tvb, pinfo, tree)
	if not plausible_tcp(tvb_reader(tvb), tvb:len()) then return false end
	dissect_tcp(tvb, pinfo, tree)
	return true
end

local function heur_udp(tvb, pinfo, tree)
	local total = tvb:len()
	if total < AC.HDR + AC.MAC + 1 then return false end
	if tvb(0, 4):uint() + 4 + AC.MAC ~= total or tvb(4, 1):uint() ~= T_ANNOUNCE or
	    tvb(5, 3):uint() ~= 0 or tvb(8, 4):uint() ~= 0 then
		return false
	end
	local b = tvb(AC.HDR, 1):uint()
	if not (b >= 0x90 and b <= 0x9f) then return false end
	dissect_udp(tvb, pinfo, tree)
	return true
end

proto:register_heuristic("tcp", heur_tcp)
proto:register_heuristic("udp", heur_udp)
proto:register_heuristic("tls", heur_tls)
DissectorTable.get("tcp.port"):add_for_decode_as(proto)
DissectorTable.get("udp.port"):add_for_decode_as(proto)
DissectorTable.get("tls.port"):add_for_decode_as(proto)

-- The discovery port follows its preference.
local udp_port = 0
local function udp_port_update()
	local t = DissectorTable.get("udp.port")
	if udp_port ~= 0 then t:remove(udp_port, proto) end
	udp_port = proto.prefs.udp_port
	if udp_port ~= 0 then t:add(udp_port, proto) end
end
proto.prefs_changed = udp_port_update
udp_port_update()
