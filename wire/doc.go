// Package wire is ketch's Kafka protocol boundary: framing, request and
// response headers, and the record batch v2 format. Message bodies are
// franz-go's kmsg types; this package adds what kmsg leaves to a broker.
//
// It is sans-IO: no sockets, files, goroutines or clocks. The real host feeds
// it bytes read from TCP; the simulator feeds it bytes from its simulated
// network; both get identical behaviour.
//
// Server side, per connection:
//
//	fr := wire.NewFrameReader(wire.FrameBytesMaxDefault)
//	fr.Feed(bytesFromSocket)
//	for {
//		frame, ok, err := fr.Next()
//		if err != nil { /* close the connection */ }
//		if !ok { break } // need more bytes
//		req, err := wire.ParseRequest(frame, versions)
//		// *UnsupportedVersionError: answer ApiVersions v0 / close;
//		// *UnknownAPIError, ErrMalformed: close.
//		out = wire.AppendResponse(out, req.Header.CorrelationID, resp)
//	}
//
// Produce: each partition's Records go through ValidateProduceRecords (or
// ValidateProduceBatch, size limit only), which decompresses a compressed
// batch (compress.go: gzip, snappy raw and xerial, lz4, zstd, decoded size
// bounded), checks every record and its timestamp, and returns a
// *BatchError with the Kafka error code to answer on rejection, or the
// records' real max timestamp. Stored batches keep the producer's bytes;
// SetBaseOffset and SetPartitionLeaderEpoch stamp them (both fields lie
// outside the CRC); SetMaxTimestamp corrects a wrong max timestamp and
// recomputes the CRC.
// SplitBatches and ParseBatchHeader read stored or fetched batches back.
//
// Client side (simulated clients, tests): AppendRequest, ParseResponse,
// AppendBatch, AppendCompressedBatch and ParseRecords (which decompresses).
//
// Every decoder here takes untrusted bytes: bad input yields an error, never
// a panic, and no allocation is sized by a length that was not first checked
// against the bytes actually present. The fuzz targets in the tests hold
// this.
package wire
