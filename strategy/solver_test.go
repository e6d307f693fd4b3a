package strategy

import (
	"math/rand"
	"testing"
)

// mcmf is an independent min-cost max-flow (successive shortest paths with
// Bellman-Ford) over the same network, used to check Solve exactly.
type mcmf struct {
	n    int
	to   []int
	cap  []int
	cost []int64
	head [][]int
}

func (g *mcmf) edge(u, v, c int, w int64) {
	g.head[u] = append(g.head[u], len(g.to))
	g.to, g.cap, g.cost = append(g.to, v), append(g.cap, c), append(g.cost, w)
	g.head[v] = append(g.head[v], len(g.to))
	g.to, g.cap, g.cost = append(g.to, u), append(g.cap, 0), append(g.cost, -w)
}

func (g *mcmf) run(s, t int) (flow int, cost int64) {
	for {
		dist := make([]int64, g.n)
		prev := make([]int, g.n)
		for i := range dist {
			dist[i], prev[i] = 1<<62, -1
		}
		dist[s] = 0
		for it := 0; it < g.n; it++ {
			changed := false
			for u := 0; u < g.n; u++ {
				if dist[u] == 1<<62 {
					continue
				}
				for _, e := range g.head[u] {
					if g.cap[e] > 0 && dist[u]+g.cost[e] < dist[g.to[e]] {
						dist[g.to[e]], prev[g.to[e]], changed = dist[u]+g.cost[e], e, true
					}
				}
			}
			if !changed {
				break
			}
		}
		if dist[t] == 1<<62 {
			return
		}
		b := 1 << 30
		for v := t; v != s; v = g.to[prev[v]^1] {
			if g.cap[prev[v]] < b {
				b = g.cap[prev[v]]
			}
		}
		for v := t; v != s; v = g.to[prev[v]^1] {
			g.cap[prev[v]] -= b
			g.cap[prev[v]^1] += b
		}
		flow += b
		cost += int64(b) * dist[t]
	}
}

func referenceSolve(pr *Problem) (int, int64) {
	P, J, T := len(pr.Pieces), len(pr.Need), pr.Steps
	src, snk := P+J*T+J, P+J*T+J+1
	g := &mcmf{n: snk + 1, head: make([][]int, snk+1)}
	for p, pc := range pr.Pieces {
		g.edge(src, p, pc.Cap, pc.Cost)
		for _, j := range pc.Jobs {
			g.edge(p, P+j*T+pc.Step, 1<<20, 0)
		}
	}
	for j := 0; j < J; j++ {
		for t := 0; t < T; t++ {
			g.edge(P+j*T+t, P+J*T+j, pr.MaxPer[j], 0)
		}
		g.edge(P+J*T+j, snk, pr.Need[j], 0)
	}
	// SSP gives min cost for each flow value; to maximise flow first, add a
	// large bonus per unit on the sink arcs' source side.
	const bonus = int64(1) << 40
	for e := range g.cost {
		if g.to[e] < P && e%2 == 0 && g.cap[e] > 0 { // src→piece arcs
			g.cost[e] -= bonus
			g.cost[e^1] += bonus
		}
	}
	f, c := g.run(src, snk)
	return f, c + int64(f)*bonus
}

func solutionCost(pr *Problem, sol Solution) (int, int64) {
	var f int
	var c int64
	for p, pc := range pr.Pieces {
		for i := range pc.Jobs {
			f += sol.Flow[p][i]
			c += int64(sol.Flow[p][i]) * pc.Cost
		}
	}
	return f, c
}

func checkFeasible(t *testing.T, pr *Problem, sol Solution) {
	t.Helper()
	slot := map[[2]int]int{}
	job := make([]int, len(pr.Need))
	for p, pc := range pr.Pieces {
		sum := 0
		for i, j := range pc.Jobs {
			if sol.Flow[p][i] < 0 {
				t.Fatalf("negative flow")
			}
			sum += sol.Flow[p][i]
			slot[[2]int{j, pc.Step}] += sol.Flow[p][i]
			job[j] += sol.Flow[p][i]
		}
		if sum > pc.Cap {
			t.Fatalf("piece %d over capacity: %d > %d", p, sum, pc.Cap)
		}
	}
	for k, v := range slot {
		if v > pr.MaxPer[k[0]] {
			t.Fatalf("job %d step %d: %d > max %d", k[0], k[1], v, pr.MaxPer[k[0]])
		}
	}
	for j := range job {
		if job[j] > pr.Need[j] {
			t.Fatalf("job %d over need", j)
		}
		if job[j]+sol.Short[j] != pr.Need[j] {
			t.Fatalf("job %d: short inconsistent", j)
		}
	}
}

func randomProblem(rng *rand.Rand) *Problem {
	T := 1 + rng.Intn(6)
	J := 1 + rng.Intn(3)
	pr := &Problem{Steps: T, Need: make([]int, J), MaxPer: make([]int, J)}
	first, end := make([]int, J), make([]int, J)
	for j := 0; j < J; j++ {
		first[j] = rng.Intn(T)
		end[j] = first[j] + 1 + rng.Intn(T-first[j])
		pr.MaxPer[j] = 1 + rng.Intn(4)
		pr.Need[j] = rng.Intn(pr.MaxPer[j]*(end[j]-first[j]) + 2)
	}
	for t := 0; t < T; t++ {
		n := rng.Intn(4)
		for i := 0; i < n; i++ {
			pc := Piece{Step: t, Cost: int64(rng.Intn(21) - 5), Cap: 1 + rng.Intn(5)}
			for j := 0; j < J; j++ {
				if t >= first[j] && t < end[j] && rng.Intn(4) > 0 {
					pc.Jobs = append(pc.Jobs, j)
				}
			}
			pr.Pieces = append(pr.Pieces, pc)
		}
	}
	return pr
}

func TestSolveMatchesReferenceMinCostFlow(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	for i := 0; i < 3000; i++ {
		pr := randomProblem(rng)
		sol := Solve(pr)
		checkFeasible(t, pr, sol)
		f, c := solutionCost(pr, sol)
		rf, rc := referenceSolve(pr)
		if f != rf || c != rc {
			t.Fatalf("case %d: Solve flow %d cost %d, reference flow %d cost %d\n%+v", i, f, c, rf, rc, pr)
		}
	}
}

// BenchmarkSolve solves a month-sized problem: 744 steps, 3 jobs, 8 pieces
// per step.
func BenchmarkSolve(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	T := 744
	pr := &Problem{Steps: T, Need: []int{40000, 4000, 600}, MaxPer: []int{96, 16, 8}}
	for t := 0; t < T; t++ {
		for i := 0; i < 8; i++ {
			pc := Piece{Step: t, Cost: int64(rng.Intn(3_000_000_000_000)), Cap: 16 + rng.Intn(48)}
			for j := 0; j < 3; j++ {
				if rng.Intn(3) > 0 {
					pc.Jobs = append(pc.Jobs, j)
				}
			}
			if len(pc.Jobs) > 0 {
				pr.Pieces = append(pr.Pieces, pc)
			}
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Solve(pr)
	}
}
