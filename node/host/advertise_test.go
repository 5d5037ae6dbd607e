package host

import (
	"net"
	"testing"
)

func TestAdvertised(t *testing.T) {
	bound := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	for _, tc := range []struct {
		listen, advertise string
		host              string
		port              int32
	}{
		{"localhost:9092", "", "localhost", 40000},
		{"127.0.0.1:0", "", "127.0.0.1", 40000},
		{":9092", "", "localhost", 40000},
		{"0.0.0.0:9092", "", "localhost", 40000},
		{"[::]:9092", "", "localhost", 40000},
		{":9092", "broker1.example:19092", "broker1.example", 19092},
		{":9092", "broker1.example:0", "broker1.example", 40000},
	} {
		host, port, err := advertised(tc.listen, tc.advertise, bound)
		if err != nil || host != tc.host || port != tc.port {
			t.Errorf("advertised(%q, %q) = %q, %d, %v; want %q, %d", tc.listen, tc.advertise, host, port, err, tc.host, tc.port)
		}
	}
	for _, bad := range []string{"nohost", "h:port", "h:70000", "h:-1"} {
		if _, _, err := advertised(":9092", bad, bound); err == nil {
			t.Errorf("advertised(%q) accepted", bad)
		}
	}
}
