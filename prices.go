package procurebot

// TokenCostPerHour returns what inference workload w costs per hour at the
// cheapest row for its model among prices (in × usd_per_mtok_in + out ×
// usd_per_mtok_out), and false when no row sells the model (DESIGN §7.7).
func (w *Inference) TokenCostPerHour(prices []TokenPrice) (Money, bool) {
	_, c, ok := w.TokenSeller(prices)
	return c, ok
}

// TokenSeller returns the provider of the cheapest row for w's model (the
// first of equal ones), its cost per hour, and false when none sells it.
func (w *Inference) TokenSeller(prices []TokenPrice) (string, Money, bool) {
	var best Money
	seller := ""
	found := false
	for i := range prices {
		p := &prices[i]
		if p.Model != w.Model {
			continue
		}
		c := w.MTokInPerHour.Mul(p.USDPerMTokIn).Add(w.MTokOutPerHour.Mul(p.USDPerMTokOut))
		if !found || c.LessThan(best) {
			best, seller, found = c, p.Provider, true
		}
	}
	return seller, best, found
}

// LeasePrice returns m_g of DESIGN §7.4 for book: the lowest per-GPU price
// among the rows of class gpu from providers the market allows (spot
// included), and false when there is none.
func LeasePrice(book []Offer, gpu string, m *Market) (Money, bool) {
	var best Money
	found := false
	for i := range book {
		o := &book[i]
		if o.GPU != gpu || !m.AllowsProvider(o.Provider) {
			continue
		}
		if !found || o.PerGPU.LessThan(best) {
			best, found = o.PerGPU, true
		}
	}
	return best, found
}
