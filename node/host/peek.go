package host

import "encoding/binary"

// expectsResponse reports whether the node will answer this request frame.
// The only request Kafka leaves unanswered is a Produce with acks=0; the
// reader must not count those against the connection's in-flight bound, or
// a fire-and-forget producer would stall after requestsInFlightMax batches.
//
// It reads just enough of the header and body to find acks. Anything it cannot
// parse counts as answered: the node answers or closes malformed requests.
func expectsResponse(frame []byte) bool {
	const produceKey = 0
	if len(frame) < 8 {
		return true
	}
	key := int16(binary.BigEndian.Uint16(frame[0:]))
	version := int16(binary.BigEndian.Uint16(frame[2:]))
	if key != produceKey {
		return true
	}
	p := frame[8:] // after key, version, correlation id
	// client_id is a nullable int16-length string in every header version.
	if len(p) < 2 {
		return true
	}
	if n := int16(binary.BigEndian.Uint16(p)); n > 0 {
		if len(p) < 2+int(n) {
			return true
		}
		p = p[2+int(n):]
	} else {
		p = p[2:]
	}
	flexible := version >= 9
	if flexible {
		// Request header v2 ends with tagged fields.
		var ok bool
		if p, ok = skipTags(p); !ok {
			return true
		}
	}
	if version >= 3 {
		// transactional_id precedes acks.
		if flexible {
			n, w := binary.Uvarint(p)
			if w <= 0 || n > uint64(len(p)-w)+1 {
				return true
			}
			if n > 0 {
				n-- // compact strings store length+1; 0 is null
			}
			p = p[w+int(n):]
		} else {
			if len(p) < 2 {
				return true
			}
			n := int16(binary.BigEndian.Uint16(p))
			if n < 0 {
				n = 0
			}
			if len(p) < 2+int(n) {
				return true
			}
			p = p[2+int(n):]
		}
	}
	if len(p) < 2 {
		return true
	}
	return int16(binary.BigEndian.Uint16(p)) != 0
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
