package auditlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
)

// FuzzScanPack: whatever a pack file holds, scanPack neither panics nor
// reports an entry that is not whole and hashed, and the entries it
// reports, written again, are the data it says they take.
func FuzzScanPack(f *testing.F) {
	entry := func(body string) []byte {
		sum := sha256.Sum256([]byte(body))
		return append(append(appendPackHeader(nil, &sum, len(body)), body...), '\n')
	}
	f.Add([]byte{})
	f.Add(entry("<HoSo/>"))
	f.Add(append(entry("a"), entry("")...))
	f.Add(append(entry("a"), entry("bc")[:70]...))
	f.Add([]byte(hex.EncodeToString(make([]byte, 32)) + " 99999999999999999999\n"))
	f.Add([]byte(hex.EncodeToString(make([]byte, 32)) + " -1\nx\n"))
	f.Add([]byte(hex.EncodeToString(make([]byte, 32)) + " 9223372036854775807\nx\n"))
	f.Add(append(entry("a"), []byte(hex.EncodeToString(make([]byte, 32))+" 9223372036854775806\n")...))
	f.Fuzz(func(t *testing.T, data []byte) {
		ents, good, err := scanPack(data)
		if good < 0 || good > int64(len(data)) {
			t.Fatalf("good %d of %d bytes", good, len(data))
		}
		if err == nil && good != int64(len(data)) {
			t.Fatalf("no error but only %d of %d bytes taken", good, len(data))
		}
		if errors.Is(err, errTornPack) && good == int64(len(data)) {
			t.Fatal("torn with nothing left over")
		}
		var again []byte
		for _, e := range ents {
			if e.Offset < 0 || e.Length < 0 || e.Offset+e.Length > good {
				t.Fatalf("entry %+v outside the %d good bytes", e, good)
			}
			body := data[e.Offset : e.Offset+e.Length]
			sum := sha256.Sum256(body)
			if hex.EncodeToString(sum[:]) != e.SHA256 {
				t.Fatalf("entry %+v does not hash to its name", e)
			}
			again = append(append(appendPackHeader(again, &sum, len(body)), body...), '\n')
		}
		if !bytes.Equal(again, data[:good]) {
			t.Fatal("the entries written again are not the data they were read from")
		}
	})
}
