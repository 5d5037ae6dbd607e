package wire

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiVersionsKey is special in the protocol: its response header is always
// v0 so that a client can parse the answer before it knows what the broker
// supports.
const apiVersionsKey = 18

// ErrMalformed is wrapped by every error about bytes that are not a valid
// request or response (truncated, garbage). The caller closes the connection.
var ErrMalformed = errors.New("wire: malformed message")

// UnsupportedVersionError says the API key is served but not at this version.
// Kafka answers ApiVersions this way (v0 body, UNSUPPORTED_VERSION) so the
// client can retry lower; for other keys the caller closes the connection.
type UnsupportedVersionError struct {
	Key           int16
	Version       int16
	CorrelationID int32
}

func (e *UnsupportedVersionError) Error() string {
	return fmt.Sprintf("wire: unsupported version %d of api key %d (%s), correlation id %d",
		e.Version, e.Key, kmsg.NameForKey(e.Key), e.CorrelationID)
}

// UnknownAPIError says the API key is not served at all; Kafka closes the
// connection.
type UnknownAPIError struct {
	Key           int16
	CorrelationID int32
}

func (e *UnknownAPIError) Error() string {
	return fmt.Sprintf("wire: api key %d not served, correlation id %d", e.Key, e.CorrelationID)
}

// RequestHeader is the Kafka request header (v1 or v2; the client id is read
// the same way in both, v2 only adds tagged fields, which we skip).
type RequestHeader struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      *string
}

// Request is a parsed request: the header and the kmsg body, whose version
// is already set to Header.Version.
type Request struct {
	Header RequestHeader
	Body   kmsg.Request
}

// Versions says which versions of each API key the caller serves: ok=false
// means the key is not served.
type Versions func(key int16) (min, max int16, ok bool)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// ParseRequest decodes one request frame payload (as returned by
// FrameReader.Next). It checks the key and version against v before decoding
// the body, so kmsg only ever parses versions it knows and we serve.
//
// The returned Body does not alias frame; the caller may keep it after the
// next FrameReader call.
//
// On *UnsupportedVersionError the returned Request carries the header's key,
// version and correlation id (Body is nil) so the caller can answer.
//
// Trailing bytes after the body are tolerated, as Kafka's own parser does
// for forward compatibility of tagged fields; the body is otherwise fully
// checked by kmsg, which bounds every length it reads by the bytes left.
func ParseRequest(frame []byte, v Versions) (Request, error) {
	return parseRequest(frame, v, false)
}

// ParseRequestOwned is ParseRequest for a caller that hands frame over: the
// returned Body may alias it (Produce Records do), so the caller must not
// modify or reuse frame afterwards. It saves ParseRequest's copy of the body,
// which for a produce request is every record byte.
func ParseRequestOwned(frame []byte, v Versions) (Request, error) {
	return parseRequest(frame, v, true)
}

func parseRequest(frame []byte, v Versions, owned bool) (Request, error) {
	var req Request
	if len(frame) < 8 {
		return req, malformed("request header needs 8 bytes, have %d", len(frame))
	}
	h := &req.Header
	h.Key = int16(binary.BigEndian.Uint16(frame[0:]))
	h.Version = int16(binary.BigEndian.Uint16(frame[2:]))
	h.CorrelationID = int32(binary.BigEndian.Uint32(frame[4:]))

	min, max, ok := v(h.Key)
	body := kmsg.RequestForKey(h.Key)
	if !ok || body == nil {
		return req, &UnknownAPIError{Key: h.Key, CorrelationID: h.CorrelationID}
	}
	// A caller advertising more than kmsg knows would have us parse bytes we
	// cannot interpret; treat it as unsupported rather than guess.
	if max > body.MaxVersion() {
		max = body.MaxVersion()
	}
	if h.Version < min || h.Version > max || h.Version < 0 {
		return req, &UnsupportedVersionError{Key: h.Key, Version: h.Version, CorrelationID: h.CorrelationID}
	}
	body.SetVersion(h.Version)

	rest := frame[8:]
	if len(rest) < 2 {
		return req, malformed("client id length truncated")
	}
	idLen := int16(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if idLen >= 0 {
		if int(idLen) > len(rest) {
			return req, malformed("client id of %d bytes, %d left", idLen, len(rest))
		}
		id := string(rest[:idLen])
		h.ClientID = &id
		rest = rest[idLen:]
	} else if idLen != -1 {
		return req, malformed("client id length %d", idLen)
	}
	if body.IsFlexible() {
		var err error
		if rest, err = skipTags(rest); err != nil {
			return req, err
		}
	}
	// kmsg's byte fields (Produce Records, for one) alias the input. The
	// frame is only valid until the next FrameReader call, so give the body
	// its own copy: one allocation, bounded by the frame size.
	if !owned {
		rest = append([]byte(nil), rest...)
	}
	if err := body.ReadFrom(rest); err != nil {
		return req, malformed("%s v%d body: %v", kmsg.NameForKey(h.Key), h.Version, err)
	}
	req.Body = body
	return req, nil
}

// tagsMax bounds the tagged-field count we walk in a header. Each tag takes
// at least two bytes, so the frame size bounds it anyway; this keeps a bogus
// count from costing a long loop.
const tagsMax = 1 << 16

// skipTags skips a tagged-field section (uvarint count, then per field
// uvarint tag, uvarint size, size bytes).
func skipTags(b []byte) ([]byte, error) {
	n, b, err := readUvarint(b)
	if err != nil {
		return nil, err
	}
	if n > tagsMax || n > uint64(len(b)) {
		return nil, malformed("%d tagged fields, %d bytes left", n, len(b))
	}
	for i := uint64(0); i < n; i++ {
		if _, b, err = readUvarint(b); err != nil {
			return nil, err
		}
		var size uint64
		if size, b, err = readUvarint(b); err != nil {
			return nil, err
		}
		if size > uint64(len(b)) {
			return nil, malformed("tagged field of %d bytes, %d left", size, len(b))
		}
		b = b[size:]
	}
	return b, nil
}

func readUvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 || v > 1<<32-1 {
		return 0, nil, malformed("bad uvarint")
	}
	return v, b[n:], nil
}

// responseHeaderFlexible reports whether a response uses header v1 (tagged
// fields after the correlation id).
func responseHeaderFlexible(resp kmsg.Response) bool {
	return resp.IsFlexible() && resp.Key() != apiVersionsKey
}

// AppendResponse appends a whole framed response (4-byte size, response
// header, body) to dst. resp's version must be set to the request's version.
func AppendResponse(dst []byte, correlationID int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if responseHeaderFlexible(resp) {
		dst = append(dst, 0) // no tagged fields
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// AppendRequest appends a whole framed request (size, header v1 or v2 when
// the body version is flexible, body) to dst. req's version must be set.
// Simulated clients and tests use it.
func AppendRequest(dst []byte, correlationID int32, clientID *string, req kmsg.Request) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.Key()))
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.GetVersion()))
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if clientID == nil {
		dst = binary.BigEndian.AppendUint16(dst, 0xffff)
	} else {
		id := *clientID
		if len(id) > 1<<15-1 {
			id = id[:1<<15-1] // the field is an int16-length string
		}
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(id)))
		dst = append(dst, id...)
	}
	if req.IsFlexible() {
		dst = append(dst, 0) // no tagged fields
	}
	dst = req.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// ParseResponse decodes a response frame payload answering req (whose
// version decides the response version). Client side only.
func ParseResponse(frame []byte, req kmsg.Request) (correlationID int32, resp kmsg.Response, err error) {
	if len(frame) < 4 {
		return 0, nil, malformed("response header needs 4 bytes, have %d", len(frame))
	}
	correlationID = int32(binary.BigEndian.Uint32(frame))
	rest := frame[4:]
	resp = req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if responseHeaderFlexible(resp) {
		if rest, err = skipTags(rest); err != nil {
			return correlationID, nil, err
		}
	}
	if err := resp.ReadFrom(rest); err != nil {
		return correlationID, nil, malformed("%s v%d response body: %v", kmsg.NameForKey(resp.Key()), resp.GetVersion(), err)
	}
	return correlationID, resp, nil
}
