/**
 * The parts of a Kubernetes Pod the injector reads or writes. Everything else passes through
 * untouched, so these types stay open (`[key: string]: unknown`).
 */
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
  [key: string]: unknown;
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  [key: string]: unknown;
}

export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  [key: string]: unknown;
}

export interface Container {
  name: string;
  image?: string;
  env?: EnvVar[];
  volumeMounts?: VolumeMount[];
  securityContext?: SecurityContext;
  restartPolicy?: string;
  [key: string]: unknown;
}

export interface Volume {
  name: string;
  secret?: { secretName?: string; [key: string]: unknown };
  projected?: { sources?: Array<{ secret?: { name?: string } }> };
  [key: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  hostNetwork?: boolean;
  hostPID?: boolean;
  shareProcessNamespace?: boolean;
  securityContext?: { runAsUser?: number; [key: string]: unknown };
  [key: string]: unknown;
}

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    generateName?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  spec: PodSpec;
}
