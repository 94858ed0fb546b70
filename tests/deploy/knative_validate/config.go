package main

import (
	"context"
	"encoding/json"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"knative.dev/eventing/pkg/apis/feature"
	"knative.dev/pkg/apis"
	servingconfig "knative.dev/serving/pkg/apis/config"
	autoscalerconfig "knative.dev/serving/pkg/autoscaler/config"
)

const (
	servingNamespace  = "knative-serving"
	eventingNamespace = "knative-eventing"
)

// webhookConfig is what the webhooks' config stores would hold: Serving's defaults,
// features and autoscaler settings, and Eventing's feature flags.
type webhookConfig struct {
	serving  *servingconfig.Config
	eventing feature.Flags
}

// A user name for the creator/lastModifier annotations the defaulting webhook adds.
var requester = authenticationv1.UserInfo{Username: "certamen-knative-validate"}

// loadConfig builds the configuration from Knative's defaults, overridden by the
// ConfigMaps in the given files; each is parsed by Knative's own constructor, so a
// value Knative would refuse is an error here too.
func loadConfig(paths []string) (*webhookConfig, error) {
	serving := servingconfig.FromContextOrDefaults(context.Background())
	eventing := feature.FromContextOrDefaults(context.Background())
	if len(paths) == 0 {
		return &webhookConfig{serving: serving, eventing: eventing}, nil
	}
	docs, err := readDocuments(paths, nil)
	if err != nil {
		return nil, err
	}
	for _, doc := range docs {
		var cm corev1.ConfigMap
		if err := json.Unmarshal(doc, &cm); err != nil || cm.Kind != "ConfigMap" {
			return nil, fmt.Errorf("-config: not a ConfigMap: %.80s", doc)
		}
		where := cm.Namespace + "/" + cm.Name
		switch where {
		case servingNamespace + "/" + servingconfig.DefaultsConfigName:
			serving.Defaults, err = servingconfig.NewDefaultsConfigFromConfigMap(&cm)
		case servingNamespace + "/" + servingconfig.FeaturesConfigName:
			serving.Features, err = servingconfig.NewFeaturesConfigFromConfigMap(&cm)
		case servingNamespace + "/" + autoscalerconfig.ConfigName:
			serving.Autoscaler, err = autoscalerconfig.NewConfigFromConfigMap(&cm)
		case eventingNamespace + "/" + feature.FlagsConfigName:
			eventing, err = feature.NewFlagsConfigFromConfigMap(&cm)
		default:
			return nil, fmt.Errorf("-config: %s is none of the ConfigMaps the webhooks read", where)
		}
		if err != nil {
			return nil, fmt.Errorf("-config: ConfigMap %s: %w", where, err)
		}
	}
	return &webhookConfig{serving: serving, eventing: eventing}, nil
}

// servingContext is the context Serving's webhook gives SetDefaults and Validate on a create.
func (c *webhookConfig) servingContext() context.Context {
	ctx := servingconfig.ToContext(context.Background(), c.serving)
	return apis.WithUserInfo(apis.WithinCreate(ctx), &requester)
}

// eventingContext is the context eventing-kafka-broker's validating webhook builds.
func (c *webhookConfig) eventingContext() context.Context {
	ctx := apis.AllowDifferentNamespace(feature.ToContext(context.Background(), c.eventing))
	return apis.WithUserInfo(apis.WithinCreate(ctx), &requester)
}
