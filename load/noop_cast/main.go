// Command certamen-noop-cast is a no-op VoteService.Cast server in Go, for
// load/grpc_server_variants.py: what a gRPC call costs a compiled server on this
// machine, beside grpcio's. Each call waits 6 ms, as Cast waits for Kafka's
// acknowledgement, then answers a fixed receipt. Messages are not decoded: a
// codec named "proto" passes the bytes through, so no stubs are generated.
//
//	certamen-noop-cast PORT RECEIPT_HEX
package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
)

const ackWait = 6 * time.Millisecond

// rawCodec replaces the protobuf codec: a message is the bytes as they came.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }

func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

func castHandler(receipt []byte) grpc.MethodHandler {
	return func(_ any, _ context.Context, decode func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		var request []byte
		if err := decode(&request); err != nil {
			return nil, err
		}
		time.Sleep(ackWait)
		answer := receipt
		return &answer, nil
	}
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: certamen-noop-cast PORT RECEIPT_HEX")
		os.Exit(2)
	}
	receipt, err := hex.DecodeString(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "certamen-noop-cast: the receipt is not hex:", err)
		os.Exit(2)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "certamen-noop-cast:", err)
		os.Exit(1)
	}
	encoding.RegisterCodec(rawCodec{})
	server := grpc.NewServer()
	server.RegisterService(&grpc.ServiceDesc{
		ServiceName: "certamen.v1.VoteService",
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: "Cast", Handler: castHandler(receipt)}},
	}, struct{}{})
	if err := server.Serve(listener); err != nil {
		fmt.Fprintln(os.Stderr, "certamen-noop-cast:", err)
		os.Exit(1)
	}
}
