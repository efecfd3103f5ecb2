import declaredTypesContract from '../contract/declared-types.contract.js';
import { asApplicationRoles, server } from '../support/engines.js';

declaredTypesContract(server);
declaredTypesContract(asApplicationRoles(server));
