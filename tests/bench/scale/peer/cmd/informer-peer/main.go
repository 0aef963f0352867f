// informer-peer runs a client-go shared informer on every pod of a cluster, as a typical
// controller-runtime operator does, and reports how long its cache took to sync and what the
// process holds afterwards: one JSON line on stdout, then it exits. With --drop-managed-fields
// the informer's transform removes metadata.managedFields before caching (what careful Go
// operators do). A fixture of tests/bench/scale/run.sh, never product code.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

type report struct {
	Mode         string  `json:"mode"`
	Pods         int     `json:"pods"`
	SyncSeconds  float64 `json:"sync_s"`
	RSSKiB       int64   `json:"rss_kib"`
	HWMKiB       int64   `json:"hwm_kib"`
	HeapInuseKiB uint64  `json:"heap_inuse_kib"`
	HeapAllocKiB uint64  `json:"heap_alloc_kib"`
	Threads      int64   `json:"threads"`
}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	dropManagedFields := flag.Bool("drop-managed-fields", false,
		"remove metadata.managedFields in the informer's transform before caching")
	settle := flag.Duration("settle", 3*time.Second,
		"time to wait after the sync (and one GC) before reading memory")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up when the cache has not synced by then")
	flag.Parse()
	if err := run(*kubeconfig, *dropManagedFields, *settle, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "informer-peer:", err)
		os.Exit(1)
	}
}

func run(kubeconfig string, dropManagedFields bool, settle, timeout time.Duration) error {
	start := time.Now()
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("--kubeconfig %q: %w", kubeconfig, err)
	}
	config.QPS, config.Burst = 50, 100
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	pods := factory.Core().V1().Pods().Informer()
	mode := "informer"
	if dropManagedFields {
		mode = "informer, managedFields dropped"
		if err := pods.SetTransform(func(obj interface{}) (interface{}, error) {
			if accessor, err := meta.Accessor(obj); err == nil {
				accessor.SetManagedFields(nil)
			}
			return obj, nil
		}); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), pods.HasSynced) {
		return fmt.Errorf("the pod cache did not sync within %s", timeout)
	}
	synced := time.Since(start)
	runtime.GC()
	time.Sleep(settle)
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	status, err := procStatus()
	if err != nil {
		return err
	}
	out, err := json.Marshal(report{
		Mode:         mode,
		Pods:         len(pods.GetStore().ListKeys()),
		SyncSeconds:  synced.Seconds(),
		RSSKiB:       status["VmRSS"],
		HWMKiB:       status["VmHWM"],
		HeapInuseKiB: stats.HeapInuse / 1024,
		HeapAllocKiB: stats.HeapAlloc / 1024,
		Threads:      status["Threads"],
	})
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	return nil
}

// procStatus reads the numeric fields of /proc/self/status (kB values in KiB).
func procStatus() (map[string]int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fields := map[string]int64{}
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		name, value, found := strings.Cut(scanner.Text(), ":")
		if !found {
			continue
		}
		words := strings.Fields(value)
		if len(words) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(words[0], 10, 64); err == nil {
			fields[name] = n
		}
	}
	return fields, scanner.Err()
}
