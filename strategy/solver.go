package strategy

import (
	"sort"
)

// Piece is a block of identical supply in one step of a plan: Cap whole GPUs
// at Cost (pico-USD per GPU for the step) that any of Jobs may use.
type Piece struct {
	Step int   // step index within the plan, 0 ≤ Step < Problem.Steps
	Cost int64 // pico-USD per GPU-step, relative to the supply's best alternative use
	Cap  int
	Jobs []int // eligible jobs; each must be active in Step

	// Tag is the caller's: it identifies the venue (site, offer row) the
	// piece stands for. The solver does not read it.
	Tag int
}

// Problem is the allocation problem of DESIGN §7 reduced to its exact
// combinatorial core: jobs that need whole GPU-steps, at most MaxPer per
// step, from pieces of supply shared by the jobs eligible for them.
type Problem struct {
	Steps  int
	Need   []int // GPU-steps each job still needs
	MaxPer []int // per job: GPUs per step
	// Mult, when set, is per step the number of identical real steps it
	// stands for: a job may take MaxPer × Mult GPUs there. Merging steps
	// with identical prices and active jobs loses nothing (bipartite flows
	// decompose into per-step flows).
	Mult []int
	// MaxPerLater, when set, replaces MaxPer for every step after the
	// first: a planner's lower expectation of what later steps deliver.
	MaxPerLater []int
	Pieces      []Piece
}

// Solution gives, per piece, the GPUs each of its eligible jobs takes:
// Flow[p][i] GPUs of Pieces[p] go to job Pieces[p].Jobs[i].
type Solution struct {
	Flow [][]int
	// Short is, per job, how many GPU-steps could not be placed at all.
	Short []int
}

// Solve returns an allocation of least total cost among those that place
// the most GPU-steps (so jobs finish whenever they can, and as cheaply as
// possible).
//
// The sets of supply units that can be routed to jobs within the per-step
// and per-job limits are the independent sets of a gammoid, a matroid; so
// taking units in order of increasing cost and keeping each one that can
// still be routed (an augmenting path search, re-routing earlier units when
// needed) yields a minimum-cost basis exactly (Edmonds' greedy theorem).
// Nodes from which no augmenting path exists never regain one, so they are
// pruned for the rest of the run.
func Solve(pr *Problem) Solution {
	s := newSolver(pr)
	s.run()
	short := make([]int, len(pr.Need))
	for j := range pr.Need {
		short[j] = pr.Need[j] - s.z[j]
	}
	return Solution{Flow: s.x, Short: short}
}

type solver struct {
	pr      *Problem
	T, J, P int
	x       [][]int // piece flows per eligible job
	used    []int   // per piece: Σ x
	y       []int   // slot (j,t) flow, index j*T+t
	z       []int   // per job flow
	atStep  [][]int // pieces by step
	// BFS state
	mark    []uint32
	gen     uint32
	dead    []bool
	parent  []int32
	pArc    []int32 // for piece nodes reached by reverse arc: index in Jobs of the reversed flow; for slots reached from a piece: index in that piece's Jobs
	queue   []int32
	total   int
	needSum int
}

// node ids: pieces [0,P), slots [P, P+J*T), jobs [P+J*T, P+J*T+J)
func newSolver(pr *Problem) *solver {
	s := &solver{pr: pr, T: pr.Steps, J: len(pr.Need), P: len(pr.Pieces)}
	s.x = make([][]int, s.P)
	flat := 0
	for p := range pr.Pieces {
		flat += len(pr.Pieces[p].Jobs)
	}
	buf := make([]int, flat)
	for p := range pr.Pieces {
		n := len(pr.Pieces[p].Jobs)
		s.x[p], buf = buf[:n:n], buf[n:]
	}
	s.used = make([]int, s.P)
	s.y = make([]int, s.J*s.T)
	s.z = make([]int, s.J)
	s.atStep = make([][]int, s.T)
	for p := range pr.Pieces {
		t := pr.Pieces[p].Step
		s.atStep[t] = append(s.atStep[t], p)
	}
	n := s.P + s.J*s.T + s.J
	s.mark = make([]uint32, n)
	s.dead = make([]bool, n)
	s.parent = make([]int32, n)
	s.pArc = make([]int32, n)
	for _, v := range pr.Need {
		if v > 0 {
			s.needSum += v
		}
	}
	return s
}

func (s *solver) slot(j, t int) int { return s.P + j*s.T + t }

func (s *solver) slotCap(j, t int) int {
	per := s.pr.MaxPer[j]
	if t > 0 && s.pr.MaxPerLater != nil {
		per = s.pr.MaxPerLater[j]
	}
	if s.pr.Mult != nil {
		return per * s.pr.Mult[t]
	}
	return per
}
func (s *solver) jobNode(j int) int { return s.P + s.J*s.T + j }

func (s *solver) run() {
	order := make([]int, s.P)
	for i := range order {
		order[i] = i
	}
	pcs := s.pr.Pieces
	sort.SliceStable(order, func(a, b int) bool { return pcs[order[a]].Cost < pcs[order[b]].Cost })
	for _, p := range order {
		if s.total >= s.needSum {
			return
		}
		for s.used[p] < pcs[p].Cap && !s.dead[p] {
			if !s.augment(p) {
				break
			}
		}
	}
}

// augment finds one augmenting path from piece p0 to the sink and pushes
// its bottleneck. It returns false (and prunes what it visited) if none.
func (s *solver) augment(p0 int) bool {
	s.gen++
	if s.gen == 0 { // wrapped: reset marks
		for i := range s.mark {
			s.mark[i] = 0
		}
		s.gen = 1
	}
	pcs := s.pr.Pieces
	q := s.queue[:0]
	q = append(q, int32(p0))
	s.mark[p0] = s.gen
	s.parent[p0] = -1
	found := -1
	for h := 0; h < len(q) && found < 0; h++ {
		u := int(q[h])
		switch {
		case u < s.P: // piece: forward to eligible slots
			pc := &pcs[u]
			for i, j := range pc.Jobs {
				v := s.slot(j, pc.Step)
				if s.mark[v] == s.gen || s.dead[v] {
					continue
				}
				s.mark[v], s.parent[v], s.pArc[v] = s.gen, int32(u), int32(i)
				q = append(q, int32(v))
			}
		case u < s.P+s.J*s.T: // slot (j,t)
			j, t := (u-s.P)/s.T, (u-s.P)%s.T
			if s.y[u-s.P] < s.slotCap(j, t) {
				v := s.jobNode(j)
				if s.mark[v] != s.gen && !s.dead[v] {
					s.mark[v], s.parent[v] = s.gen, int32(u)
					q = append(q, int32(v))
				}
			}
			// reverse: a piece at t sending to j may send elsewhere
			for _, p := range s.atStep[t] {
				if s.mark[p] == s.gen || s.dead[p] {
					continue
				}
				for i, jj := range pcs[p].Jobs {
					if jj == j && s.x[p][i] > 0 {
						s.mark[p], s.parent[p], s.pArc[p] = s.gen, int32(u), int32(i)
						q = append(q, int32(p))
						break
					}
				}
			}
		default: // job node
			j := u - s.P - s.J*s.T
			if s.z[j] < s.pr.Need[j] {
				found = u
				break
			}
			base := s.P + j*s.T
			for t := 0; t < s.T; t++ {
				v := base + t
				if s.y[v-s.P] == 0 || s.mark[v] == s.gen || s.dead[v] {
					continue
				}
				s.mark[v], s.parent[v] = s.gen, int32(u)
				q = append(q, int32(v))
			}
		}
	}
	s.queue = q
	if found < 0 {
		for _, u := range q {
			s.dead[u] = true
		}
		return false
	}
	// bottleneck
	b := pcs[p0].Cap - s.used[p0]
	j := found - s.P - s.J*s.T
	if r := s.pr.Need[j] - s.z[j]; r < b {
		b = r
	}
	for v := found; s.parent[v] >= 0; v = int(s.parent[v]) {
		u := int(s.parent[v])
		switch {
		case v >= s.P+s.J*s.T: // slot u → job v (forward)
			if r := s.slotCap(j2(s, v), (u-s.P)%s.T) - s.y[u-s.P]; r < b {
				b = r
			}
		case v >= s.P: // slot v reached from piece u (forward, infinite) or from job u (reverse of y)
			if u >= s.P+s.J*s.T {
				if r := s.y[v-s.P]; r < b {
					b = r
				}
			}
		default: // piece v reached from slot u by reversing x[v][pArc]
			if r := s.x[v][s.pArc[v]]; r < b {
				b = r
			}
		}
	}
	if b <= 0 {
		return false
	}
	for v := found; s.parent[v] >= 0; v = int(s.parent[v]) {
		u := int(s.parent[v])
		switch {
		case v >= s.P+s.J*s.T:
			s.y[u-s.P] += b
		case v >= s.P:
			if u >= s.P+s.J*s.T {
				s.y[v-s.P] -= b
			} else {
				s.x[u][s.pArc[v]] += b
			}
		default:
			s.x[v][s.pArc[v]] -= b
		}
	}
	s.used[p0] += b
	s.z[j] += b
	s.total += b
	return true
}

func j2(s *solver, v int) int { return v - s.P - s.J*s.T }
