package specdigest

import (
	"reflect"

	"k8s.io/apimachinery/pkg/api/resource"
)

var quantityType = reflect.TypeFor[resource.Quantity]()

// canonicalQuantities rewrites, in place, every resource.Quantity reachable
// from v (a pointer) to one spelling of its value: decimal SI. A Quantity's
// own canonical form keeps the suffix family it was written in, so "1Gi" and
// "1073741824" would differ; by value they are both "1073741824", and "1e3",
// "1000" and "1k" are all "1k". Walking by reflection finds the quantities of
// fields added to the Kubernetes API later, too.
func canonicalQuantities(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			canonicalQuantities(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == quantityType {
			if v.CanSet() {
				v.Set(reflect.ValueOf(canonicalQuantity(v.Interface().(resource.Quantity))))
			}
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				canonicalQuantities(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			canonicalQuantities(v.Index(i))
		}
	case reflect.Map:
		// Map elements cannot be set in place: copy, rewrite, store back.
		iter := v.MapRange()
		for iter.Next() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(iter.Value())
			canonicalQuantities(e)
			v.SetMapIndex(iter.Key(), e)
		}
	}
}

// canonicalQuantity returns q's value in decimal SI.
func canonicalQuantity(q resource.Quantity) resource.Quantity {
	return *resource.NewDecimalQuantity(*q.AsDec(), resource.DecimalSI)
}
