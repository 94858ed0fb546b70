package main

import (
	"encoding/json"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	"knative.dev/pkg/kmap"
	"knative.dev/serving/pkg/apis/autoscaling"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	kjson "sigs.k8s.io/json"
)

// checkService does what Serving's webhooks do to a Service on create: the defaulting
// webhook's SetDefaults, then the validating webhook's Validate, with the config stores'
// context. Unknown fields, which the webhooks ignore, are errors here.
func checkService(cfg *webhookConfig, doc []byte, out *verdict) {
	out.Checked = moduleVersion("knative.dev/serving") + ": Service SetDefaults, Validate"
	var svc servingv1.Service
	if !decodeStrict(doc, &svc, "", out) {
		return
	}
	ctx := cfg.servingContext()
	svc.SetDefaults(ctx)
	addFindings(svc.Validate(ctx), out)
	out.Errors = append(out.Errors, unreadAutoscalingKeys(svc.Spec.Template.Annotations)...)
	out.Defaulted = asMap(&svc, out)
}

// autoscalerKeys are the annotations Knative's autoscaler reads, in every spelling it accepts.
var autoscalerKeys = func() map[string]bool {
	keys := map[string]bool{}
	for _, spellings := range []kmap.KeyPriority{
		autoscaling.ActivationScale, autoscaling.ClassAnnotation, autoscaling.InitialScaleAnnotation,
		autoscaling.MaxScaleAnnotation, autoscaling.MetricAggregationAlgorithmAnnotation,
		autoscaling.MetricAnnotation, autoscaling.MinScaleAnnotation,
		autoscaling.PanicThresholdPercentageAnnotation, autoscaling.PanicWindowPercentageAnnotation,
		autoscaling.ScaleDownDelayAnnotation, autoscaling.ScaleToZeroPodRetentionPeriodAnnotation,
		autoscaling.TargetAnnotation, autoscaling.TargetBurstCapacityAnnotation,
		autoscaling.TargetUtilizationPercentageAnnotation, autoscaling.WindowAnnotation,
	} {
		for _, key := range spellings {
			keys[key] = true
		}
	}
	return keys
}()

// unreadAutoscalingKeys is the one check of ours: Knative ignores an autoscaling.knative.dev/
// annotation it does not know (a misspelt max-scale is no bound at all), so it is named here.
func unreadAutoscalingKeys(annotations map[string]string) []string {
	var found []string
	for key := range annotations {
		if strings.HasPrefix(key, autoscaling.GroupName+"/") && !autoscalerKeys[key] {
			found = append(found, fmt.Sprintf(
				"not an annotation Knative's autoscaler reads (it would be ignored): "+
					"spec.template.metadata.annotations.%s", key))
		}
	}
	sort.Strings(found)
	return found
}

// kafkaSource is the part of a KafkaSource whose Go types live outside
// knative.dev/eventing-kafka-broker: its sink and overrides (knative.dev/pkg's
// SourceSpec) and its delivery (knative.dev/eventing's DeliverySpec).
type kafkaSource struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     struct {
		Delivery    json.RawMessage `json:"delivery"`
		Sink        json.RawMessage `json:"sink"`
		CEOverrides json.RawMessage `json:"ceOverrides"`
	} `json:"spec"`
}

// checkKafkaSource runs what eventing-kafka-broker's webhook runs of Knative's shared
// code on a KafkaSource (SourceSpec: sink and ceOverrides), and Eventing's DeliverySpec
// defaulting and validation on spec.delivery. The rest of the KafkaSource is
// eventing-kafka-broker's own, checked against its CRD.
func checkKafkaSource(cfg *webhookConfig, doc []byte, out *verdict) {
	out.Checked = moduleVersion("knative.dev/eventing") +
		": spec.delivery DeliverySpec SetDefaults, Validate; spec.sink, spec.ceOverrides SourceSpec Validate"
	var ks kafkaSource
	if err := json.Unmarshal(doc, &ks); err != nil {
		out.Errors = append(out.Errors, err.Error())
		return
	}
	var source duckv1.SourceSpec
	var delivery *eventingduckv1.DeliverySpec
	ok := decodeStrict(ks.Spec.Sink, &source.Sink, "spec.sink", out)
	if ks.Spec.CEOverrides != nil {
		source.CloudEventOverrides = &duckv1.CloudEventOverrides{}
		ok = decodeStrict(ks.Spec.CEOverrides, source.CloudEventOverrides, "spec.ceOverrides", out) && ok
	}
	if ks.Spec.Delivery != nil {
		delivery = &eventingduckv1.DeliverySpec{}
		ok = decodeStrict(ks.Spec.Delivery, delivery, "spec.delivery", out) && ok
	}
	if !ok {
		return
	}
	ctx := apis.WithinParent(cfg.eventingContext(), ks.Metadata)
	source.Sink.SetDefaults(ctx)
	delivery.SetDefaults(ctx)
	errs := source.Validate(ctx).Also(delivery.Validate(ctx).ViaField("delivery"))
	addFindings(errs.ViaField("spec"), out)
	out.Defaulted = asMap(map[string]any{"spec": map[string]any{
		"sink": source.Sink, "ceOverrides": source.CloudEventOverrides, "delivery": delivery,
	}}, out)
}

// decodeStrict decodes like the API server's strict field validation: field names are
// case-sensitive, and unknown or duplicate fields are errors.
func decodeStrict(data []byte, into any, where string, out *verdict) bool {
	if data == nil {
		data = []byte("null")
	}
	prefix := ""
	if where != "" {
		prefix = where + ": "
	}
	strict, err := kjson.UnmarshalStrict(data, into, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		out.Errors = append(out.Errors, prefix+err.Error())
		return false
	}
	for _, e := range strict {
		out.Errors = append(out.Errors, prefix+"strict decoding: "+e.Error())
	}
	return len(strict) == 0
}

// addFindings splits Knative's FieldError into errors (refusals) and warnings, each
// one message as the webhook words it ("message: paths", then any details).
func addFindings(errs *apis.FieldError, out *verdict) {
	out.Errors = append(out.Errors, lines(errs.Filter(apis.ErrorLevel))...)
	out.Warnings = append(out.Warnings, lines(errs.Filter(apis.WarningLevel))...)
}

func lines(errs *apis.FieldError) []string {
	if errs == nil {
		return nil
	}
	found := []string{}
	for _, e := range errs.WrappedErrors() {
		found = append(found, e.Error())
	}
	return found
}

func asMap(v any, out *verdict) map[string]any {
	data, err := json.Marshal(v)
	var m map[string]any
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err != nil {
		out.Errors = append(out.Errors, fmt.Sprintf("cannot encode the defaulted object: %v", err))
	}
	return m
}

// moduleVersion names the module whose code did the check, as built in.
func moduleVersion(path string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == path {
				return path + " " + dep.Version
			}
		}
	}
	return path
}
