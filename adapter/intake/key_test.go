package intake

import "testing"

// The downstream key is the treasury contract's: the same vectors are checked by the treasury
// simulator (adapter/sim/treasurysim), so both sides derive the same key.
func TestDownstreamKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		procedure, dossier string
		supplement         int
		want               string
	}{
		{"chi-thuong-xuyen", "G09.20-20260609-0092637", 0, "5b127f41199344b9fab0e80ca4dc43e22f45dfe413ddb70acd8a0964d2e412c4"},
		{"chi-thuong-xuyen", "G09.20-20260609-0092637", 1, "c44e1d7ce00ec263ed0a4f17d5f5c6b3572a321b083fa7be7503bd8d7121d683"},
	}
	for _, tt := range tests {
		v := &Verified{Procedure: &Procedure{ID: tt.procedure}, MaHoSo: tt.dossier, SoBoSung: tt.supplement}
		if got := v.DownstreamKey(); got != tt.want {
			t.Errorf("DownstreamKey of %s = %s, want %s", v.DossierID(), got, tt.want)
		}
	}
}

// The withdrawal's downstream key is the treasury contract's too, checked against the
// simulator's vectors.
func TestWithdrawalDownstreamKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		procedure, dossier string
		supplement         int
		want               string
	}{
		{"chi-thuong-xuyen", "G09.20-20260609-0092637", 0, "de05befff9a6a9cbdfb8b5888fde1a3ad29bbe4a14da58a9973349be0f879775"},
		{"chi-thuong-xuyen", "G09.20-20260609-0092637", 1, "c0e9a65cdcb1cab2b263efda6a4166652d076849b4a9192dae3af6ff8de27a4a"},
	}
	for _, tt := range tests {
		v := &verifiedWithdrawal{procedure: &Procedure{ID: tt.procedure}, w: Withdrawal{MaHoSo: tt.dossier, SoBoSung: tt.supplement}}
		if got := v.downstreamKey(); got != tt.want {
			t.Errorf("withdrawal key of %s = %s, want %s", v.dossierID(), got, tt.want)
		}
	}
}
