package host

import "encoding/binary"

// answerReserve is how many bytes the connection sets aside for a request's
// answer (and the request itself) while it is in flight, before the node has
// answered: the frame, plus for a Fetch the most records it may return.
// Peeking is only an estimate for admission: once the answer exists, its real
// size counts instead.
func answerReserve(frame []byte, messageBytesMax int) int {
	res := len(frame) + answerBytesSmall
	if mb, ok := fetchMaxBytes(frame); ok {
		if mb <= 0 || mb > fetchAnswerBytesMax {
			mb = fetchAnswerBytesMax
		}
		// The node always serves a partition's first batch, even past
		// MaxBytes (KIP-74), and a batch is at most message.max.bytes.
		res += int(mb) + messageBytesMax
	}
	return res
}

// fetchMaxBytes reads a Fetch request's MaxBytes; ok is false for other
// requests, or a Fetch too short to say (the node refuses those).
func fetchMaxBytes(frame []byte) (int32, bool) {
	const fetchKey = 1
	if len(frame) < 8 {
		return 0, false
	}
	key := int16(binary.BigEndian.Uint16(frame[0:]))
	version := int16(binary.BigEndian.Uint16(frame[2:]))
	if key != fetchKey || version < 3 {
		return 0, false
	}
	p := frame[8:] // after key, version, correlation id
	// client_id is a nullable int16-length string in every header version.
	if len(p) < 2 {
		return 0, false
	}
	if n := int16(binary.BigEndian.Uint16(p)); n > 0 {
		if len(p) < 2+int(n) {
			return 0, false
		}
		p = p[2+int(n):]
	} else {
		p = p[2:]
	}
	if version >= 12 {
		// Request header v2 ends with tagged fields.
		var ok bool
		if p, ok = skipTags(p); !ok {
			return 0, false
		}
	}
	skip := 12 // replica id, max wait, min bytes
	if version >= 15 {
		skip = 8 // the replica id moved into a tagged field
	}
	if len(p) < skip+4 {
		return 0, false
	}
	return int32(binary.BigEndian.Uint32(p[skip:])), true
}

// skipTags skips a tagged-fields section.
func skipTags(p []byte) ([]byte, bool) {
	count, w := binary.Uvarint(p)
	if w <= 0 {
		return nil, false
	}
	p = p[w:]
	for i := uint64(0); i < count; i++ {
		if _, w = binary.Uvarint(p); w <= 0 {
			return nil, false
		}
		p = p[w:]
		size, w := binary.Uvarint(p)
		if w <= 0 || size > uint64(len(p)-w) {
			return nil, false
		}
		p = p[w+int(size):]
	}
	return p, true
}
