// Command embench measures embedstream's pipeline on this machine; deploy/bench/run
// drives it. Each measured thing runs in a process of its own so that peak
// RSS (VmHWM) belongs to it alone.
//
//	embench run  --scratch DIR --bin DIR --out DIR [--n N] [--runs R] [--stages S]
//	                                      the whole benchmark: writes DIR/latest.{json,md}
//	embench load --file F [--cpuprofile P] [--memprofile P]
//	                                      one pickleload.Load of F; prints JSON
//	embench wire --file F [--reps R]      wire ceiling: the bytes of F in 1 MiB chunks
//	                                      over a plain grpc-go stream to a discard server
//	embench worker [worker flags] --cpuprofile P --memprofile P
//	                                      the worker, in this process, with profiles
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: embench run|load|wire|worker [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "run":
		err = runBench(ctx, args)
	case "load":
		err = runLoad(args)
	case "wire":
		err = runWire(ctx, args)
	case "worker":
		err = runWorker(ctx, args)
	default:
		err = fmt.Errorf("unknown command %q (want run, load, wire or worker)", cmd)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "embench:", err)
		os.Exit(1)
	}
}
