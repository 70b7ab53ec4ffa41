package ingest

import (
	"flag"
	"io"
	"testing"

	"github.com/embedstream/embedstream/internal/config"
	"github.com/embedstream/embedstream/internal/pickleload"
)

func TestPickleOptionsFollowSettings(t *testing.T) {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c, err := config.LoadWorker(fs, []string{"--pickle-decoded-factor", "3"}, func(k string) string {
		return map[string]string{"PICKLE_MAX_DEPTH": "64"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	_, pcfg, _ := Configs(c)
	o := pcfg.pickleOptions(1000)
	if o.MaxDecodedBytes != 3000+pickleload.DefaultDecodedSlack || o.MaxDepth != 64 {
		t.Fatalf("options = %+v", o)
	}
	if o := (ProcessorConfig{}).pickleOptions(1000); o != (pickleload.Options{}) {
		t.Fatalf("zero config gives %+v, want the loader's defaults", o)
	}
}
