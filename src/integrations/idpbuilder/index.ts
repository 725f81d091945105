/** idpbuilder: discovery of a cluster's Gitea (endpoints, admin credential, CA), registry hooks, the packages API. */
export {
  type BuildCustomization,
  DEFAULT_GITEA,
  type DiscoverOptions,
  discoverIdpbuilder,
  type GiteaEndpoints,
  giteaEndpoints,
  giteaImageName,
  type IdpbuilderCluster,
  idpbuilderCluster,
} from './discover.js';
export { type GiteaApiOptions, type GiteaPackage, GiteaPackagesApi } from './packages.js';
export { type HookOptions, type IdpbuilderHooks, idpbuilderHooks, isCandidateHost } from './registry.js';
