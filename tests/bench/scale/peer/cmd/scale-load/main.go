// scale-load creates the scale benchmark's cluster contents fast, in parallel, through the API:
// M namespaces, K kwok GPU nodes and N GPU pods of a realistic shape (1–8 GPUs, cpu and memory
// requests, Job-style labels, annotations and owner references, a sidecar, a shm volume). Pods
// are created by server-side apply with field manager "bench-load", so their managedFields are
// the API server's own, and are bound with spec.nodeName (no scheduler): kwok's pod stages make
// them Running, and keep them so for a year (annotation bursar.dev/run-for). Pods are deterministic in i, so a run can be repeated. A fixture of
// tests/bench/scale/run.sh, never product code.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const fieldManager = "bench-load"

// gpuShares: a pod i asks for gpuShares[i%10] GPUs (40 % 1, 30 % 2, 20 % 4, 10 % 8).
var gpuShares = [10]int{1, 2, 1, 4, 1, 2, 8, 1, 4, 2}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	pods := flag.Int("pods", 2000, "number of pods (N)")
	namespaces := flag.Int("namespaces", 4, "namespaces bench-0 … bench-(M-1); pod i goes to i mod M")
	nodes := flag.Int("nodes", 0, "kwok nodes gpu-0 …; pod i is bound to node i mod K (0: N/25, at least 4)")
	workers := flag.Int("workers", 16, "requests in flight")
	noPods := flag.Bool("no-pods", false, "create the namespaces and nodes (sized for --pods) only")
	flag.Parse()
	if *pods < 0 || *namespaces < 1 || *workers < 1 || *nodes < 0 {
		fmt.Fprintln(os.Stderr, "scale-load: --pods must be ≥ 0, --namespaces and --workers ≥ 1, --nodes ≥ 0")
		os.Exit(2)
	}
	if *nodes == 0 {
		*nodes = max(*pods/25, 4)
	}
	if err := run(*kubeconfig, *pods, *namespaces, *nodes, *workers, !*noPods); err != nil {
		fmt.Fprintln(os.Stderr, "scale-load:", err)
		os.Exit(1)
	}
}

func run(kubeconfig string, pods, namespaces, nodes, workers int, withPods bool) error {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("--kubeconfig %q: %w", kubeconfig, err)
	}
	config.QPS, config.Burst = 5000, 5000
	config.UserAgent = "bench-load"
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	ctx := context.Background()
	start := time.Now()
	if err := parallel(namespaces, workers, func(i int) error {
		return apply(ctx, client, "", "namespaces", fmt.Sprintf("bench-%d", i), map[string]any{
			"apiVersion": "v1", "kind": "Namespace",
			"metadata": map[string]any{"name": fmt.Sprintf("bench-%d", i),
				"labels": map[string]any{"bursar.dev/bench": "scale"}},
		})
	}); err != nil {
		return err
	}
	// Each node gets room for the GPUs bound to it, in whole 8-GPU boards.
	gpusOnNode := make([]int, nodes)
	for i := 0; i < pods; i++ {
		gpusOnNode[i%nodes] += gpuShares[i%10]
	}
	if err := parallel(nodes, workers, func(i int) error {
		return createNode(ctx, client, i, max(8, (gpusOnNode[i]+7)/8*8))
	}); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "scale-load: %d namespaces and %d nodes in %.1f s\n", namespaces, nodes,
		time.Since(start).Seconds())
	if !withPods {
		return nil
	}
	start = time.Now()
	var done atomic.Int64
	if err := parallel(pods, workers, func(i int) error {
		ns := fmt.Sprintf("bench-%d", i%namespaces)
		name := fmt.Sprintf("train-%d", i)
		if err := apply(ctx, client, ns, "pods", name, pod(i, ns, name, fmt.Sprintf("gpu-%d", i%nodes))); err != nil {
			return err
		}
		if n := done.Add(1); n%10000 == 0 {
			fmt.Fprintf(os.Stderr, "scale-load: %d pods\n", n)
		}
		return nil
	}); err != nil {
		return err
	}
	elapsed := time.Since(start).Seconds()
	fmt.Fprintf(os.Stderr, "scale-load: %d pods in %.1f s (%.0f/s)\n", pods, elapsed, float64(pods)/elapsed)
	return nil
}

// parallel calls f(0) … f(n-1) on `workers` goroutines and returns the first error.
func parallel(n, workers int, f func(int) error) error {
	next := atomic.Int64{}
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || first != nil {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// apply server-side-applies one object (a Namespace or a Pod) as fieldManager.
func apply(ctx context.Context, client *kubernetes.Clientset, ns, resource, name string, object map[string]any) error {
	body, err := json.Marshal(object)
	if err != nil {
		return err
	}
	force := true
	request := client.CoreV1().RESTClient().Patch(types.ApplyPatchType).Resource(resource).Name(name).
		VersionedParams(&metav1.PatchOptions{FieldManager: fieldManager, Force: &force}, metav1.ParameterCodec).
		Body(body)
	if ns != "" {
		request = request.Namespace(ns)
	}
	if err := request.Do(ctx).Error(); err != nil {
		return fmt.Errorf("apply %s %s/%s: %w", resource, ns, name, err)
	}
	return nil
}

// createNode creates a kwok GPU node with its capacity in status (a create keeps a Node's
// status; an apply to the main resource would drop it). An existing node is left as it is.
func createNode(ctx context.Context, client *kubernetes.Clientset, i, gpus int) error {
	capacity := corev1.ResourceList{
		"cpu": resource.MustParse("192"), "memory": resource.MustParse("2Ti"),
		"pods": resource.MustParse("1000"), "nvidia.com/gpu": *resource.NewQuantity(int64(gpus), resource.DecimalSI),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("gpu-%d", i),
			Labels: map[string]string{
				"type": "kwok", "bursar.dev/pool": "bench",
				"node.kubernetes.io/instance-type": "p4d.24xlarge",
				"nvidia.com/gpu.product":           "NVIDIA-A100-SXM4-40GB",
				"karpenter.sh/capacity-type":       []string{"on-demand", "spot"}[i%2],
				"topology.kubernetes.io/zone":      fmt.Sprintf("zone-%c", 'a'+i%3),
			},
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
		},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "kwok.x-k8s.io/node", Value: "fake",
			Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	_, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{FieldManager: fieldManager})
	if err != nil && !isAlreadyExists(err) {
		return fmt.Errorf("create node %s: %w", node.Name, err)
	}
	return nil
}

func isAlreadyExists(err error) bool {
	status, ok := err.(interface{ Status() metav1.Status })
	return ok && status.Status().Reason == metav1.StatusReasonAlreadyExists
}

// pod is pod i: a worker of Job "job-<i/4>" (four workers a Job) on node nodeName.
func pod(i int, ns, name, nodeName string) map[string]any {
	job := fmt.Sprintf("job-%d", i/4)
	jobUID := fmt.Sprintf("00000000-0000-4000-8000-%012d", i/4)
	gpus := gpuShares[i%10]
	team := fmt.Sprintf("team-%d", i%7)
	return map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{
			"name": name, "namespace": ns,
			"labels": map[string]any{
				"app.kubernetes.io/name": "trainer", "app.kubernetes.io/part-of": "bench",
				"team": team, "bursar.dev/model": fmt.Sprintf("model-%d", i%13),
				"batch.kubernetes.io/job-name": job, "job-name": job,
				"batch.kubernetes.io/controller-uid": jobUID, "controller-uid": jobUID,
				"batch.kubernetes.io/job-completion-index": fmt.Sprint(i % 4),
			},
			"annotations": map[string]any{
				"batch.kubernetes.io/job-completion-index":       fmt.Sprint(i % 4),
				"kubectl.kubernetes.io/default-container":        "train",
				"bursar.dev/priority":                            fmt.Sprint(i % 3),
				"prometheus.io/scrape":                           "true",
				"prometheus.io/port":                             "9400",
				"cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
				// The project's kwok Stage (tests/cluster/stages/pod-complete.yaml) ends a Job's
				// pod after this long, at once without it: the benchmark's pods keep running.
				"bursar.dev/run-for": "8760h",
			},
			"ownerReferences": []any{map[string]any{
				"apiVersion": "batch/v1", "kind": "Job", "name": job, "uid": jobUID,
				"controller": true, "blockOwnerDeletion": true,
			}},
		},
		"spec": map[string]any{
			"nodeName":      nodeName,
			"restartPolicy": "Never",
			"tolerations": []any{
				map[string]any{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"},
				map[string]any{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
			},
			"containers": []any{
				map[string]any{
					"name": "train", "image": "registry.invalid/ml/trainer:2.4.1-cuda12",
					"command": []any{"torchrun"},
					"args": []any{"--nproc-per-node", fmt.Sprint(gpus), "train.py", "--config",
						"/etc/train/config.yaml", "--model", fmt.Sprintf("model-%d", i%13)},
					"env": []any{
						map[string]any{"name": "NCCL_DEBUG", "value": "WARN"},
						map[string]any{"name": "JOB_COMPLETION_INDEX", "value": fmt.Sprint(i % 4)},
						map[string]any{"name": "MASTER_ADDR", "value": job + "-0." + job},
					},
					"resources": map[string]any{
						"requests": map[string]any{"cpu": fmt.Sprint(8 * gpus), "memory": fmt.Sprintf("%dGi", 64*gpus),
							"nvidia.com/gpu": fmt.Sprint(gpus)},
						"limits": map[string]any{"memory": fmt.Sprintf("%dGi", 64*gpus), "nvidia.com/gpu": fmt.Sprint(gpus)},
					},
					"volumeMounts": []any{map[string]any{"name": "dshm", "mountPath": "/dev/shm"}},
				},
				map[string]any{
					"name": "metrics", "image": "registry.invalid/ml/metrics-sidecar:1.3",
					"ports":     []any{map[string]any{"name": "metrics", "containerPort": 9400}},
					"resources": map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "128Mi"}},
				},
			},
			"volumes": []any{map[string]any{"name": "dshm",
				"emptyDir": map[string]any{"medium": "Memory", "sizeLimit": "64Gi"}}},
		},
	}
}
