package treasurysim

import "testing"

// The simulator loads every shipped lifecycle, the same tables as the adapter.
func TestLifecyclesLoad(t *testing.T) {
	t.Parallel()
	m, err := lifecycles()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"chi-thuong-xuyen", "von-dau-tu", "tai-khoan", "cam-ket-chi"} {
		if m[p] == nil {
			t.Errorf("no lifecycle for %s", p)
		}
	}
	if code, ok := move("tai-khoan", 4, "ACCOUNT_OPENED"); !ok || code != 9 {
		t.Errorf("tai-khoan 4 ACCOUNT_OPENED: %d %v", code, ok)
	}
	if _, ok := move("tai-khoan", 4, "PAID"); ok {
		t.Error("tai-khoan moves on PAID")
	}
	if code, ok := move("no-such-procedure", 3, "PAID"); !ok || code != 3 || halted("no-such-procedure", 10) {
		t.Error("a procedure without a lifecycle is held back")
	}
}
